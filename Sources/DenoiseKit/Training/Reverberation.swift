import Foundation

/// Speech as a distant microphone in a room hears it, and the target the network is trained towards.
///
/// The input is the dry speech convolved with the whole impulse response; the target is the speech convolved with
/// its direct path and the reflections of the first 50 ms only (`RoomImpulseResponse.earlyDuration`). Why not
/// the dry speech: early reflections arrive within one 32 ms analysis frame or the next, and they colour the
/// spectrum rather than smear it, so a real-valued mask on the reverberant STFT cannot take them out; asking it to
/// would teach it to suppress speech it cannot separate. Listeners fuse them with the direct sound and they help
/// intelligibility, so nothing is lost by keeping them. The late tail smears earlier syllables into later ones,
/// like noise, and a mask can remove it, so the target leaves it out.
enum Reverberation {
    /// (reverberant speech, early-reverberant target), both `clean.count` samples, aligned with each other (delayed
    /// by the response's `directPathIndex`, at most a millisecond) and scaled so that the target has the energy
    /// of `clean`.
    static func apply(_ response: RoomImpulseResponse, to clean: [Float]) -> (reverberant: [Float],
                                                                                    target: [Float]) {
        let outputs = FFTConvolution.convolve(clean, with: [response.samples, response.early])
        var (reverberant, target) = (outputs[0], outputs[1])
        let targetPower = Mixing.meanSquare(target)
        guard targetPower > 0 else { return (clean, clean) }
        let gain = (Mixing.meanSquare(clean) / targetPower).squareRoot()
        for i in target.indices {
            target[i] *= gain
            reverberant[i] *= gain
        }
        return (reverberant, target)
    }
}
