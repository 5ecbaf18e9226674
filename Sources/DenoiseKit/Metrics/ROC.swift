/// Area under the ROC curve of a detector's scores against binary labels.
public enum ROC {
    /// The probability that a random positive scores above a random negative (ties count one half), computed exactly
    /// from ranks (the Mann–Whitney U statistic): AUC = (Σ ranks of the positives − P(P + 1)/2) / (P·N), tied scores
    /// sharing their average rank. Labels are positive when ≥ 0.5. nil when either class is empty.
    static func areaUnderCurve(scores: [Float], labels: [Float]) -> Double? {
        precondition(scores.count == labels.count, "ROC: \(scores.count) scores but \(labels.count) labels")
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var positiveRankSum = 0.0, positives = 0.0
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && scores[order[end]] == scores[order[start]] { end += 1 }
            // Ranks start + 1 … end (1-based) share their mean.
            let rank = Double(start + 1 + end) / 2
            for i in order[start..<end] where labels[i] >= 0.5 {
                positiveRankSum += rank
                positives += 1
            }
            start = end
        }
        let negatives = Double(scores.count) - positives
        guard positives > 0 && negatives > 0 else { return nil }
        return (positiveRankSum - positives * (positives + 1) / 2) / (positives * negatives)
    }
}
