/// How the rows of an activation matrix map onto utterances of different lengths.
///
/// A batch holds `lengths.count` utterances, each padded to `frames` rows: utterance `b` owns rows
/// `b * frames ..< (b + 1) * frames`, of which the first `lengths[b]` are real and the rest padding.
/// Padding never enters a loss, a normalisation statistic or a gradient; layers write zeros to
/// padded output rows and padded gradient rows.
public struct SequenceBatch: Equatable, Sendable {
    /// Padded length of every utterance, in frames.
    public let frames: Int
    /// Real length of each utterance, in frames (each ≤ `frames`).
    public let lengths: [Int]
    /// How many threads the layers' passes over this batch may share (`Parallel`); serial unless set.
    public var parallelism = Parallelism.serial

    public init(frames: Int, lengths: [Int]) {
        precondition(lengths.allSatisfy { $0 >= 0 && $0 <= frames }, "utterance lengths must lie in 0...\(frames)")
        self.frames = frames
        self.lengths = lengths
    }

    /// One utterance with no padding; also a batch of independent frames, for layers that work per row.
    public static func single(frames: Int) -> SequenceBatch { SequenceBatch(frames: frames, lengths: [frames]) }

    public var batch: Int { lengths.count }
    public var rows: Int { frames * lengths.count }
    public var realFrames: Int { lengths.reduce(0, +) }

    /// Row range of the real frames of utterance `b`.
    func realRows(of b: Int) -> Range<Int> { b * frames ..< b * frames + lengths[b] }

    func isReal(row: Int) -> Bool { row % frames < lengths[row / frames] }

    /// 1 for real rows, 0 for padding, one value per row.
    public var mask: [Float] {
        var m = [Float](repeating: 0, count: rows)
        for b in 0..<batch { for r in realRows(of: b) { m[r] = 1 } }
        return m
    }
}
