import Foundation

/// Recorded noise for remixing, drawn so that a source or category with many clips does not crowd out one with
/// few: first a source (a `--noise` folder, or the training pairs' own noise) uniformly, then one of its
/// categories, then one of that category's clips. Drawing clips uniformly instead would let 653 clips of pair
/// noise (a dozen noise types) swamp 150 clips of 30 new categories.
public struct NoisePool: Sendable {
    /// How clips are drawn.
    public enum Draw: String, CaseIterable, Sendable {
        /// A source, then a category, then a clip, each uniformly (the default).
        case grouped
        /// A clip uniformly among all of them, whatever its source and category: as builds before the grouped draw
        /// did, so that their recipes can be rerun.
        case clips
    }

    /// source → category → clips.
    private let groups: [[[[Float]]]]

    public init(_ clips: [NoiseClip], draw: Draw = .grouped) {
        let usable = clips.filter { !$0.samples.isEmpty }
        guard draw == .grouped else {
            groups = usable.isEmpty ? [] : [[usable.map(\.samples)]]
            return
        }
        let sources = Array(Set(usable.map(\.source))).sorted()
        groups = sources.map { source in
            let inSource = usable.filter { $0.source == source }
            return Array(Set(inSource.map(\.category))).sorted().map { category in
                inSource.filter { $0.category == category }.map(\.samples)
            }
        }
    }

    public var isEmpty: Bool { groups.isEmpty }

    /// One clip, drawn source, category, clip.
    public func draw(rng: inout RandomGenerator) -> [Float] {
        let categories = groups[Int(rng.next() % UInt64(groups.count))]
        let clips = categories[Int(rng.next() % UInt64(categories.count))]
        return clips[Int(rng.next() % UInt64(clips.count))]
    }
}
