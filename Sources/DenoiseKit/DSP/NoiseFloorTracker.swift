import Foundation

/// A causal estimate of each band's noise floor, and how far each frame stands above it (the a-posteriori SNR of
/// classical enhancers, in log power): the `MaskNetConfig.floorBands` input. The network's own context is about a
/// second and its input level is scaled by corpus statistics, so on its own it cannot tell a steady noise it never
/// heard from speech at the same level; the floor looks further back.
///
/// For each band b, from the utterance's first frame on, in frame order (x_t[b]: the frame's log band power):
///
///     s_t[b] = x_t[b] after a start or a silent frame, else s_{t−1}[b] + β · (x_t[b] − s_{t−1}[b])   (smoothing)
///     n_t[b] = min(s_u[b] for u in max(0, t − W + 1) ... t, u not silent)                            (the floor)
///     y_t[b] = (x_t[b] − n_t[b]) · `outputScale`, and 0 for a silent frame
///
/// with β = 1 − exp(−frameSeconds / `smoothingSeconds`) and W the frames in the window: the minimum of the
/// smoothed power over the last W frames (minimum statistics). Speech leaves gaps in every band within a second or
/// so, where the smoothed power falls to the noise; a window longer than those gaps finds them, and a rising
/// noise is followed within one window. The floor of a steady noise sits a few dB below its mean (the minimum of a
/// fluctuating level); the network learns that offset. y_t depends on frames 0…t only.
///
/// A silent frame is digital silence in that band (`silence`: far below the least step of 16-bit audio). It says
/// nothing about the noise, so it stays out of the floor: otherwise a stream that starts with, or pauses in, exact
/// zeros (a muted microphone) would hold the floor at the silence for a whole window after the sound comes back.
///
/// The minimum over the window is a streaming van Herk/Gil-Werman filter: frames fall into blocks of W, and the
/// window at frame t is the end of the last block (its suffix minima, taken once when that block completed) and the
/// start of this one (a running minimum). About three rows of work per frame instead of W, and the same minimum.
///
/// The state (the last W smoothed frames, their block minima, frames seen) belongs to one utterance: each path that
/// runs a network owns one per stream of frames, inside an `InputStage`, and feeds it every frame exactly once, in
/// order. Buffers are allocated at init; `track` allocates nothing.
final class NoiseFloorTracker {
    /// How far back the floor looks unless the model says otherwise (`MaskNetConfig.floorWindow`): longer than the
    /// gaps between words, so it finds the noise between them.
    static let defaultWindowSeconds = 1.5
    /// The smoothing's time constant: a few frames, so that the floor is a minimum of levels, not of single frames.
    static let smoothingSeconds = 0.05
    /// Scale of the output: log power ratios of 0…40 dB (0…9.2 nepers) come out as 0…2.3.
    static let outputScale: Float = 0.25
    /// Log band powers below this (a power of 1e-9, ten times `Features.logPowerFloor`) are digital silence: the
    /// least step of 16-bit audio alone gives a band about 1e-7.
    static let silence: Float = -20.723_267

    let bands: Int
    /// W: the smoothed frames the floor is the minimum of.
    let windowFrames: Int
    /// β, the weight of a new frame in the smoothing.
    let beta: Float
    private let smoothed: UnsafeMutablePointer<Float>
    /// Whether the band's last frame was sound (not silent, and not before the start): its smoothing goes on.
    private let sounding: UnsafeMutablePointer<Bool>
    /// n_t, the floor of the last frame [bands].
    private let floor: UnsafeMutablePointer<Float>
    /// The last `windowFrames` smoothed frames [windowFrames × bands], frame t in slot t mod W.
    private let window: UnsafeMutablePointer<Float>
    /// Minimum over this block's frames so far (slots 0 … t mod W) [bands].
    private let blockMinimum: UnsafeMutablePointer<Float>
    /// Row j: minimum over the last complete block's slots j … W − 1 [windowFrames × bands].
    private let suffixMinimum: UnsafeMutablePointer<Float>
    /// Frames tracked since the last `reset`.
    private(set) var framesSeen = 0

    /// `frameSeconds`: time from one frame to the next (hop / sample rate); `windowSeconds`: how far back the floor
    /// looks.
    init(bands: Int, frameSeconds: Double, windowSeconds: Double = NoiseFloorTracker.defaultWindowSeconds) {
        precondition(bands >= 1, "NoiseFloorTracker needs at least one band, got \(bands)")
        precondition(frameSeconds > 0, "NoiseFloorTracker needs a positive frame time, got \(frameSeconds)")
        precondition(windowSeconds > 0, "NoiseFloorTracker needs a positive window, got \(windowSeconds)")
        self.bands = bands
        windowFrames = max(1, Int((windowSeconds / frameSeconds).rounded()))
        beta = Float(1 - exp(-frameSeconds / NoiseFloorTracker.smoothingSeconds))
        smoothed = .allocate(capacity: bands)
        smoothed.initialize(repeating: 0, count: bands)
        sounding = .allocate(capacity: bands)
        sounding.initialize(repeating: false, count: bands)
        floor = .allocate(capacity: bands)
        floor.initialize(repeating: 0, count: bands)
        window = .allocate(capacity: windowFrames * bands)
        window.initialize(repeating: 0, count: windowFrames * bands)
        blockMinimum = .allocate(capacity: bands)
        blockMinimum.initialize(repeating: 0, count: bands)
        suffixMinimum = .allocate(capacity: windowFrames * bands)
        suffixMinimum.initialize(repeating: 0, count: windowFrames * bands)
    }

    deinit {
        smoothed.deallocate()
        sounding.deallocate()
        floor.deallocate()
        window.deallocate()
        blockMinimum.deallocate()
        suffixMinimum.deallocate()
    }

    /// Forgets every frame: the next one starts an utterance.
    func reset() {
        framesSeen = 0
        sounding.update(repeating: false, count: bands)
    }

    /// Takes the next frame's log band powers x [bands] into the floor and writes its height above the floor into
    /// y [bands] (y may be x).
    func track(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let position = framesSeen % windowFrames
        let slot = window + position * bands
        for b in 0..<bands {
            if x[b] < NoiseFloorTracker.silence {
                sounding[b] = false
                slot[b] = .infinity  // never the minimum
            } else {
                smoothed[b] = sounding[b] ? smoothed[b] + beta * (x[b] - smoothed[b]) : x[b]
                sounding[b] = true
                slot[b] = smoothed[b]
            }
        }
        if position == 0 {
            blockMinimum.update(from: slot, count: bands)
        } else {
            RowKernel.formMinimum(slot, into: blockMinimum, bands)
        }
        floor.update(from: blockMinimum, count: bands)
        // The window reaches back into the last block for frames W − 1 − position of it, if there was one.
        if framesSeen >= windowFrames && position + 1 < windowFrames {
            RowKernel.formMinimum(suffixMinimum + (position + 1) * bands, into: floor, bands)
        }
        framesSeen += 1
        if position == windowFrames - 1 {  // this block is complete: its suffix minima serve the next one
            let last = (windowFrames - 1) * bands
            suffixMinimum.advanced(by: last).update(from: window + last, count: bands)
            for j in stride(from: windowFrames - 2, through: 0, by: -1) {
                let row = suffixMinimum + j * bands
                row.update(from: window + j * bands, count: bands)
                RowKernel.formMinimum(row + bands, into: row, bands)
            }
        }
        // A band that sounds now has its own frame in the window, so its floor is finite.
        for b in 0..<bands {
            y[b] = x[b] < NoiseFloorTracker.silence ? 0 : (x[b] - floor[b]) * NoiseFloorTracker.outputScale
        }
    }
}
