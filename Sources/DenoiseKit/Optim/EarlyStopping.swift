/// Stops training when the validation score has not improved for `patience` epochs.
///
/// An epoch improves when its score beats the best so far by more than `minDelta` (below best − minDelta
/// when minimising, above best + minDelta when maximising); the first finite score always improves, a
/// non-finite one never does. Training should stop once `patience` epochs in a row have not improved
/// (patience 0: at the first epoch that does not improve). Codable, so a resumed run continues the count.
public final class EarlyStopping: Codable {
    public enum Mode: String, Codable, Sendable { case minimize, maximize }

    public struct Decision: Equatable, Sendable {
        /// This epoch is the new best (save the model).
        public let improved: Bool
        public let shouldStop: Bool
    }

    public let patience: Int
    public let minDelta: Float
    public let mode: Mode
    /// The epoch of the best score, nil before the first finite score.
    public private(set) var bestEpoch: Int?
    public private(set) var bestScore: Float?
    public private(set) var epochsWithoutImprovement = 0

    public init(patience: Int, minDelta: Float = 0, mode: Mode = .minimize) {
        precondition(patience >= 0, "early-stopping patience must be ≥ 0, got \(patience)")
        precondition(minDelta >= 0, "early-stopping minDelta must be ≥ 0, got \(minDelta)")
        self.patience = patience
        self.minDelta = minDelta
        self.mode = mode
    }

    /// Whether the last update said to stop.
    public var shouldStop: Bool { epochsWithoutImprovement > 0 && epochsWithoutImprovement >= patience }

    @discardableResult
    public func update(epoch: Int, score: Float) -> Decision {
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
