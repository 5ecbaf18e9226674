import Foundation

public struct EpochReport: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainLoss: Float
    public var validationLoss: Float
    /// Mean SI-SDR of the enhanced validation set minus that of its noisy input, dB.
    public var validationSISDRGain: Float
    public var learningRate: Float
    public var seconds: Double
    /// Real (unpadded) frames trained per second.
    public var framesPerSecond: Double
    /// ROC AUC of the speech head on the validation frames (nil without the head, or without both classes).
    public var validationSpeechAUC: Float?
}
