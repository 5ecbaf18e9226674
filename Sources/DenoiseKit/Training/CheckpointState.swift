import Foundation

/// What a checkpoint holds besides tensors (generator words as strings: JSON numbers are doubles).
struct CheckpointState: Codable {
    var epoch: Int
    var rng: [String]
    var dropout: [[String]]
    var history: [EpochReport]
    var earlyStopping: String?
    var options: TrainingOptions
}
