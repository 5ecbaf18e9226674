/// How the rows of an activation matrix map onto utterances of different lengths.
///
/// A batch holds `lengths.count` utterances, each padded to `frames` rows: utterance `b` owns rows
/// `b * frames ..< (b + 1) * frames`, of which the first `lengths[b]` are real and the rest padding.
/// Padding never enters a loss, a normalisation statistic or a gradient; layers write zeros to
/// padded output rows and padded gradient rows.
struct SequenceBatch: Equatable, Sendable {
    /// Padded length of every utterance, in frames.
    let frames: Int
    /// Real length of each utterance, in frames (each ≤ `frames`).
    let lengths: [Int]
    /// How many threads the layers' passes over this batch may share (`Parallel`); serial unless set.
    var parallelism = Parallelism.serial

    init(frames: Int, lengths: [Int]) {
        precondition(lengths.allSatisfy { $0 >= 0 && $0 <= frames }, "utterance lengths must lie in 0...\(frames)")
        self.frames = frames
        self.lengths = lengths
    }

    /// One utterance with no padding; also a batch of independent frames, for layers that work per row.
    static func single(frames: Int) -> SequenceBatch { SequenceBatch(frames: frames, lengths: [frames]) }

    var batch: Int { lengths.count }
    var rows: Int { frames * lengths.count }
    var realFrames: Int { lengths.reduce(0, +) }

    /// Row range of the real frames of utterance `b`.
    func realRows(of b: Int) -> Range<Int> { b * frames ..< b * frames + lengths[b] }

    func isReal(row: Int) -> Bool { row % frames < lengths[row / frames] }

    /// 1 for real rows, 0 for padding, one value per row.
    var mask: [Float] {
        var m = [Float](repeating: 0, count: rows)
        for b in 0..<batch { for r in realRows(of: b) { m[r] = 1 } }
        return m
    }
}

extension SequenceBatch {
    /// Calls `body` with the contiguous row range of each utterance's real frames, skipping empty ones.
    @inline(__always)
    func forEachRealRowRange(_ body: (Range<Int>) -> Void) {
        for b in 0..<batch where lengths[b] > 0 { body(realRows(of: b)) }
    }
}

extension SequenceBatch {
    /// Splits the real rows (in batch order) into `chunks` nearly equal parts and calls `body(chunk, rows)` for
    /// each contiguous run of rows of a part within one utterance, the parts concurrently (see `Parallel.run`),
    /// the runs of one part in order on one thread.
    func forEachRealRowPiece(chunks: Int, _ body: (_ chunk: Int, _ rows: Range<Int>) -> Void) {
        guard chunks > 1 else {
            forEachRealRowRange { body(0, $0) }
            return
        }
        let total = realFrames
        Parallel.run(chunks) { chunk in
            let wanted = Parallel.part(chunk, of: chunks, total: total)
            var index = 0  // real rows before utterance b
            for b in 0..<batch {
                let length = lengths[b]
                let first = max(wanted.lowerBound, index), end = min(wanted.upperBound, index + length)
                if first < end { body(chunk, (b * frames + first - index) ..< (b * frames + end - index)) }
                index += length
                if index >= wanted.upperBound { break }
            }
        }
    }

    /// Contiguous runs of utterances with about `realFrames / count` real frames each (at most `count` runs, none
    /// empty unless the batch has no real frames), for splitting per-utterance work across threads.
    func utteranceGroups(_ count: Int) -> [Range<Int>] {
        guard count > 1 else { return [0 ..< batch] }
        let total = realFrames
        var groups: [Range<Int>] = [], start = 0, done = 0
        for b in 0..<batch {
            done += lengths[b]
            // Close a group once it reaches its share of the frames (the last group takes the rest).
            if groups.count < count - 1 && done * count >= total * (groups.count + 1) {
                groups.append(start ..< b + 1)
                start = b + 1
            }
        }
        if start < batch { groups.append(start ..< batch) }
        return groups.filter { r in r.contains { lengths[$0] > 0 } }
    }
}
