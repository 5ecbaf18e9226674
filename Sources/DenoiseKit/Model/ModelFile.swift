import Foundation

enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupportedVersion(path: String, found: String)
    case invalidConfig(String)
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
    case nonFinite(path: String, name: String)

    var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .malformed(path, reason): return "\(path): not a valid model file: \(reason)"
        case let .unsupportedVersion(path, found):
            let known = DenoiseModel.formatVersions.map { "'\($0)'" }.joined(separator: ", ")
            return "\(path): model format '\(found)' is not supported (this build reads \(known))"
        case let .invalidConfig(message): return "invalid model configuration: \(message)"
        case let .missingTensor(path, name): return "\(path): model file lacks tensor '\(name)'"
        case let .shapeMismatch(path, name, expected, found):
            return "\(path): tensor '\(name)' has shape \(found), the configuration needs \(expected)"
        case let .nonFinite(path, name): return "\(path): tensor '\(name)' contains NaN or infinite values"
        }
    }
}

/// What training produced a model; shown by `denoise info`.
public struct TrainingSummary: Codable, Equatable, Sendable {
    public var epochs: Int
    public var bestEpoch: Int
    public var validationLoss: Float
    public var validationSISDRGain: Float
    public var trainingPairs: Int
    public var trainingSeconds: Double
    public var command: String
    /// For a model trained from another (`train --init`): the runs behind its starting weights, oldest first.
    public var earlierRuns: [TrainingSummary]?

    public init(epochs: Int, bestEpoch: Int, validationLoss: Float, validationSISDRGain: Float, trainingPairs: Int,
                trainingSeconds: Double, command: String, earlierRuns: [TrainingSummary]? = nil) {
        self.epochs = epochs
        self.bestEpoch = bestEpoch
        self.validationLoss = validationLoss
        self.validationSISDRGain = validationSISDRGain
        self.trainingPairs = trainingPairs
        self.trainingSeconds = trainingSeconds
        self.command = command
        self.earlierRuns = earlierRuns
    }

    /// The runs that made a model trained from this one: this run's own history first, then this run.
    public var lineage: [TrainingSummary] {
        var last = self
        last.earlierRuns = nil
        return (earlierRuns ?? []) + [last]
    }
}
