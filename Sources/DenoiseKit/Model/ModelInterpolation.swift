/// Weight-space interpolation of two models of one architecture, typically a fine-tune and the model it started
/// from. A fine-tune on new conditions (noise, rooms, channels) moves away from what the starting model did well;
/// points on the straight line between the two often keep most of both, because the fine-tune stays in the same
/// basin of the loss (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022, call this WiSE-FT).
extension DenoiseModel {
    /// A new model whose every tensor, the input norm's running statistics included, is
    /// `(1 − weight) · self + weight · other`: `weight` 0 gives this model's weights and 1 `other`'s.
    ///
    /// The two must have the same architecture, STFT and sample rate; they may differ in dropout (which acts only in
    /// training) and in whether they have the speech-probability head. A head that only one of them has is copied
    /// from it as it is. The mask exponent, attenuation limit and high-band settings are `other`'s. The result
    /// carries no training summary, since the validation figures of neither run describe it; its `blend` records the
    /// weight and both models' training summaries and blend records instead.
    public func interpolated(toward other: DenoiseModel, weight: Float) throws -> DenoiseModel {
        guard weight.isFinite, (0...1).contains(weight) else {
            throw ModelInterpolationError.weightOutOfRange(weight)
        }
        let mine = Self.architecture(net.config), theirs = Self.architecture(other.net.config)
        guard mine == theirs else {
            throw ModelInterpolationError.incompatible("their networks differ in " + Self.differences(mine, theirs))
        }
        guard stft == other.stft else {
            throw ModelInterpolationError.incompatible("their STFTs differ (\(DenoiseModel.json(stft)) and "
                                                       + "\(DenoiseModel.json(other.stft)))")
        }
        guard sampleRate == other.sampleRate else {
            throw ModelInterpolationError.incompatible("their sample rates differ (\(sampleRate) and "
                                                       + "\(other.sampleRate) Hz)")
        }

        var config = other.net.config
        config.speechHead = hasSpeechHead || other.hasSpeechHead
        let start = safeTensors().tensors
        var file = other.safeTensors()
        for (name, tensor) in start {
            guard let end = file.tensors[name] else {
                file.tensors[name] = tensor
                continue
            }
            precondition(end.shape == tensor.shape, "tensor \(name) differs in shape between equal configurations")
            let values = zip(tensor.values, end.values).map { (1 - weight) * $0 + weight * $1 }
            file.tensors[name] = .init(shape: end.shape, values: values)
        }
        file.metadata["masknet"] = DenoiseModel.json(config)
        file.metadata["format"] = DenoiseModel.formatVersions.last
        file.metadata["training"] = nil
        let model = try DenoiseModel(safeTensors: file, path: "interpolated model")
        model.blend = BlendSummary(weight: weight, first: training, second: other.training, firstBlend: blend,
                                   secondBlend: other.blend)
        return model
    }

    /// `causal false and true, hidden 256 and 128`: the settings in which two configurations differ.
    private static func differences(_ a: MaskNetConfig, _ b: MaskNetConfig) -> String {
        func settings(_ config: MaskNetConfig) -> [String: String] {
            Dictionary(Mirror(reflecting: config).children.map { ($0.label ?? "", "\($0.value)") },
                       uniquingKeysWith: { first, _ in first })
        }
        let (x, y) = (settings(a), settings(b))
        return x.keys.sorted().filter { x[$0] != y[$0] }
            .map { "\($0) \(x[$0, default: "-"]) and \(y[$0, default: "-"])" }.joined(separator: ", ")
    }

    /// What two interpolated models must share: the configuration without dropout and the speech head.
    private static func architecture(_ config: MaskNetConfig) -> MaskNetConfig {
        var config = config
        config.speechHead = false
        config.dropout = 0
        return config
    }
}

/// How a model was blended from two others: shown by `denoise info`, so that a blended file says how to remake it.
/// A side that was itself a blend, or was trained from one, brings its own blend record, so a blend of blends
/// still reaches every run behind it. A record that reaches the file along several paths (both sides of a
/// fine-tune blended with the run it came from; a soup's start inside the rounds trained from it) is written once
/// and referred to after that (`BlendRecords`): stored at every path, a record of n rounds would take 2ⁿ copies.
public struct BlendSummary: Codable, Equatable, Sendable {
    /// Share of the second model, as in `DenoiseModel.interpolated(toward:weight:)`.
    public var weight: Float
    /// The command that made the blend (nil when it was not made by one).
    public var command: String?
    /// The two models' training summaries (nil for one without: a blend itself, or a model from another tool).
    public var first: TrainingSummary?
    public var second: TrainingSummary?
    /// The two models' own blend records (`DenoiseModel.blend`; nil for a model that comes from no blend).
    public var firstBlend: BlendSummary? {
        get { blends.first.flatMap { $0 } }
        set { blends[0] = newValue }
    }
    public var secondBlend: BlendSummary? {
        get { blends.last.flatMap { $0 } }
        set { blends[1] = newValue }
    }
    /// The two sides' blend records: an array, because a struct cannot hold an optional of itself.
    private var blends: [BlendSummary?]

    public init(weight: Float, command: String? = nil, first: TrainingSummary?, second: TrainingSummary?,
                firstBlend: BlendSummary? = nil, secondBlend: BlendSummary? = nil) {
        self.weight = weight
        self.command = command
        self.first = first
        self.second = second
        blends = [firstBlend, secondBlend]
    }

    private enum CodingKeys: String, CodingKey {
        case weight, command, first, second, firstBlend, secondBlend
        /// A side's record given as the index of an equal record written before it (`BlendRecords`).
        case firstBlendIndex, secondBlendIndex
        /// Files written before references: the second side's record is the first's.
        case secondBlendIsFirst
    }

    /// Every record of this history once, in the order a model file stores them: a record's sides before it, the
    /// first side's before the second's, this record last. A record reached again along another path is not listed
    /// again, so this is linear in the generations of a soup, where walking the sides as a tree is exponential.
    public var storedRecords: [BlendSummary] {
        var records: [BlendSummary] = []
        collect(into: &records)
        return records
    }

    private func collect(into records: inout [BlendSummary]) {
        for side in [firstBlend, secondBlend] {
            guard let side, !records.contains(side) else { continue }
            side.collect(into: &records)
        }
        records.append(self)
    }

    /// Equal in every field, the sides' records compared in turn. A record reaches a soup's history along several
    /// paths (the start, and each round trained from it), so compared as a tree it is exponentially large in the
    /// generations; the comparison remembers which pairs of stored records it has already found equal, and a record
    /// met again (decoded from an index, or copied) shares its storage, so each pair is compared once.
    public static func == (a: BlendSummary, b: BlendSummary) -> Bool {
        var equalPairs = Set<StoragePair>()
        return a.equals(b, equalPairs: &equalPairs)
    }

    private func equals(_ other: BlendSummary, equalPairs: inout Set<StoragePair>) -> Bool {
        guard weight == other.weight, command == other.command, first == other.first, second == other.second else {
            return false
        }
        let pair = StoragePair(blends, other.blends)
        if pair.first == pair.second || equalPairs.contains(pair) { return true }
        for (mine, theirs) in zip(blends, other.blends) {
            switch (mine, theirs) {
            case (nil, nil): continue
            case let (mine?, theirs?): guard mine.equals(theirs, equalPairs: &equalPairs) else { return false }
            default: return false
            }
        }
        equalPairs.insert(pair)
        return true
    }

    /// The storage of two records' side lists, by address: alive, so not reused, while both records are.
    private struct StoragePair: Hashable {
        let first: UInt, second: UInt
        init(_ a: [BlendSummary?], _ b: [BlendSummary?]) {
            first = a.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
            second = b.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let records = decoder.userInfo[BlendRecords.key] as? BlendRecords
        func side(_ key: CodingKeys, index: CodingKeys) throws -> BlendSummary? {
            guard let position = try c.decodeIfPresent(Int.self, forKey: index) else {
                return try c.decodeIfPresent(BlendSummary.self, forKey: key)
            }
            guard let records, records.all.indices.contains(position) else {
                throw DecodingError.dataCorruptedError(forKey: index, in: c,
                                                       debugDescription: "no blend record \(position) before it")
            }
            return records.all[position]
        }
        let firstBlend = try side(.firstBlend, index: .firstBlendIndex)
        let shared = try c.decodeIfPresent(Bool.self, forKey: .secondBlendIsFirst) ?? false
        self.init(weight: try c.decode(Float.self, forKey: .weight),
                  command: try c.decodeIfPresent(String.self, forKey: .command),
                  first: try c.decodeIfPresent(TrainingSummary.self, forKey: .first),
                  second: try c.decodeIfPresent(TrainingSummary.self, forKey: .second),
                  firstBlend: firstBlend,
                  secondBlend: shared ? firstBlend : try side(.secondBlend, index: .secondBlendIndex))
        records?.all.append(self)
    }

    /// With `BlendRecords` in the encoder's user info, a side's record equal to one already written is written as
    /// its index; without, every record is written out whole.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let records = encoder.userInfo[BlendRecords.key] as? BlendRecords
        try c.encode(weight, forKey: .weight)
        try c.encodeIfPresent(command, forKey: .command)
        try c.encodeIfPresent(first, forKey: .first)
        try c.encodeIfPresent(second, forKey: .second)
        for (record, key, index) in [(firstBlend, CodingKeys.firstBlend, CodingKeys.firstBlendIndex),
                                     (secondBlend, .secondBlend, .secondBlendIndex)] {
            guard let record else { continue }
            if let position = records?.all.firstIndex(of: record) {
                try c.encode(position, forKey: index)
            } else {
                try c.encode(record, forKey: key)
            }
        }
        records?.all.append(self)
    }
}

/// The blend records one file's metadata has written or read so far, in the order each was completed (its sides'
/// records before it, the first side's before the second's): an index into this list stands for a record met
/// again. One per encoding or decoding, passed in the coder's user info under `key`.
final class BlendRecords: @unchecked Sendable {
    static let key = CodingUserInfoKey(rawValue: "denoise.blendRecords")!
    var all: [BlendSummary] = []
}

/// Why two models cannot be interpolated.
public enum ModelInterpolationError: Error, CustomStringConvertible, Equatable {
    case weightOutOfRange(Float)
    case incompatible(String)

    public var description: String {
        switch self {
        case let .weightOutOfRange(weight): return "interpolation weight \(weight) is outside 0...1"
        case let .incompatible(reason): return "the models cannot be interpolated: \(reason)"
        }
    }
}
