/// Stops training when the validation score has not improved for `patience` epochs.
///
/// An epoch improves when its score beats the best so far by more than `minDelta` (below best − minDelta
/// when minimising, above best + minDelta when maximising); the first finite score always improves, a
/// non-finite one never does. Training should stop once `patience` epochs in a row have not improved
/// (patience 0: at the first epoch that does not improve). Codable, so a resumed run continues the count.
final class EarlyStopping: Codable {
    enum Mode: String, Codable, Sendable { case minimize, maximize }

    struct Decision: Equatable, Sendable {
        /// This epoch is the new best (save the model).
        let improved: Bool
        let shouldStop: Bool
    }

    let patience: Int
    let minDelta: Float
    let mode: Mode
    /// The epoch of the best score, nil before the first finite score.
    private(set) var bestEpoch: Int?
    private(set) var bestScore: Float?
    private(set) var epochsWithoutImprovement = 0

    init(patience: Int, minDelta: Float = 0, mode: Mode = .minimize) {
        precondition(patience >= 0, "early-stopping patience must be ≥ 0, got \(patience)")
        precondition(minDelta >= 0, "early-stopping minDelta must be ≥ 0, got \(minDelta)")
        self.patience = patience
        self.minDelta = minDelta
        self.mode = mode
    }

    /// Whether the last update said to stop.
    var shouldStop: Bool { epochsWithoutImprovement > 0 && epochsWithoutImprovement >= patience }

    @discardableResult
    func update(epoch: Int, score: Float) -> Decision {
        var improved = score.isFinite
        if improved, let best = bestScore {
            switch mode {
            case .minimize: improved = score < best - minDelta
            case .maximize: improved = score > best + minDelta
            }
        }
        if improved {
            bestScore = score
            bestEpoch = epoch
            epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
        return Decision(improved: improved, shouldStop: shouldStop)
    }
}
