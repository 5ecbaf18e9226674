/// Audio samples as planar Float channels in [-1, 1] (nominally), with their sample rate.
public struct AudioBuffer: Equatable, Sendable {
    /// One array per channel, all the same length.
    public var channels: [[Float]]
    public var sampleRate: Int

    public init(channels: [[Float]], sampleRate: Int) {
        precondition(!channels.isEmpty, "an AudioBuffer has at least one channel")
        precondition(channels.allSatisfy { $0.count == channels[0].count }, "all channels must have the same length")
        self.channels = channels
        self.sampleRate = sampleRate
    }

    public init(mono: [Float], sampleRate: Int) { self.init(channels: [mono], sampleRate: sampleRate) }

    public var channelCount: Int { channels.count }
    public var frameCount: Int { channels[0].count }
    public var duration: Double { Double(frameCount) / Double(sampleRate) }

    /// The mean of the channels (the channel itself when mono).
    var mixedDown: [Float] {
        if channels.count == 1 { return channels[0] }
        var mix = [Float](repeating: 0, count: frameCount)
        let scale = 1 / Float(channels.count)
        for channel in channels { for i in 0..<frameCount { mix[i] += channel[i] * scale } }
        return mix
    }
}
