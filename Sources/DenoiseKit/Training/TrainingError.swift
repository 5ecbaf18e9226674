import Foundation

enum TrainingError: Error, CustomStringConvertible, Equatable {
    case diverged(epoch: Int)
    case badOption(String)
    var description: String {
        switch self {
        case let .diverged(epoch):
            return "training diverged in epoch \(epoch + 1): the loss became NaN even after halving the learning rate; "
                + "try a lower learning rate or clip the gradient"
        case let .badOption(message): return message
        }
    }
}

/// Trains a `DenoiseModel` on pairs, one epoch at a time. The state that `checkpoint` captures is
/// all that determines what comes next, so a resumed run matches an uninterrupted one exactly.
