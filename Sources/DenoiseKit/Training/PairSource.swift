/// Training pairs as the trainer sees them: every pair's name and length up front, its samples on request.
///
/// `PairDataset` holds the samples in memory; `PairFiles` reads them from disk when a batch needs them, so
/// memory does not grow with the corpus. Both give the same samples for the same pairs, so a run does not
/// depend on which one feeds it.
public protocol PairSource: Sendable {
    /// One name per pair (its relative path), in pair order.
    var names: [String] { get }
    /// Samples of each pair at the model's rate; noisy and clean have this length.
    var lengths: [Int] { get }
    /// The noisy samples of pair `index`, `lengths[index]` of them.
    func noisy(_ index: Int) throws -> [Float]
    /// The clean samples of pair `index`, `lengths[index]` of them.
    func clean(_ index: Int) throws -> [Float]
}

/// How much of the training pairs augmentation takes its noise and babble from.
public enum AugmentationMaterial {
    /// An hour: more than the 41 training minutes of ../shared/data/train, so recipes on it use every pair, and at
    /// 16 kHz about 460 MB for the noise and the speech together, whatever the size of the corpus.
    public static let maxSeconds = 3600
}

extension PairSource {
    public var count: Int { lengths.count }
    public var totalSamples: Int { lengths.reduce(0, +) }

    public func pair(_ index: Int) throws -> (noisy: [Float], clean: [Float]) {
        (try noisy(index), try clean(index))
    }

    /// Augmentation material from the pairs: the noise of each (noisy − clean; none unless `noise`) and its clean
    /// speech, for babble. From all pairs while they total at most `maxSamples`, else from a random choice of whole
    /// pairs drawn with `seed` up to that total, so the material takes bounded memory whatever the size of the
    /// corpus. In pair order.
    public func augmentationMaterial(maxSamples: Int, seed: UInt64,
                                     noise: Bool = true) throws -> (noise: [[Float]], speech: [[Float]]) {
        let lengths = self.lengths
        var chosen = Array(lengths.indices)
        if lengths.reduce(0, +) > maxSamples {
            // A generator of its own: drawing from the trainer's would change every batch after it.
            var rng = RandomGenerator(seed: seed ^ 0x6D61_7465_7269_616C)
            chosen.shuffle(using: &rng)
            var total = 0
            chosen = chosen.prefix { index in
                total += lengths[index]
                return total <= maxSamples
            }
            chosen.sort()
        }
        var material: (noise: [[Float]], speech: [[Float]]) = ([], [])
        for index in chosen {
            let clean = try self.clean(index)
            // The noisy samples are dropped as soon as their noise is taken, so they never all sit in memory.
            if noise { material.noise.append(zip(try self.noisy(index), clean).map { $0 - $1 }) }
            material.speech.append(clean)
        }
        return material
    }
}
