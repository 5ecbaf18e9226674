/// The network's input stage: each frame's log-power bins [bins] are pooled into log band powers (with
/// `MaskNetConfig.inputBands`, see `ERBBands`), then normalised per value by the running mean and variance of the
/// utterance so far (with `InputNormKind.running`, see `RunningNormalizer`), giving the log-power values (bands, or
/// bins) the network's first layer reads. Bands come first so that the statistics are those of what the network
/// sees. With `MaskNetConfig.floorBands`, the frame's height above a noise-floor track follows them, per band of
/// a pooling of its own (`NoiseFloorTracker`); the `inputWidth` values are then [log powers | floor bands]. With
/// none of these, the stage is the identity (`isIdentity`) and callers skip it.
///
/// It is written once, here, for every path that runs the network: `MaskNet.forward` per utterance of a batch,
/// `MaskNetStream` per step and `Denoiser`'s overlapping windows per frame they have not seen. With the running
/// normalisation or the floor the stage holds one utterance's state (`isStateful`): each stream of frames needs a
/// stage of its own (`MaskNet.makeInputStage()`) fed every frame exactly once, in order, so that a frame's output
/// depends on that frame and the ones before it, however the frames arrive.
///
/// Nothing is allocated per frame: the pooling and the normalisation work in the caller's buffers (after the
/// pooling, the normalisation works in place), and the batch entry's output grows with the largest batch, only when
/// the stage is not the identity.
final class InputStage {
    /// Log-power bins per frame in.
    let bins: Int
    /// Values per frame out: the log powers (bands with the band pooling, bins otherwise), then the floor bands.
    let inputWidth: Int
    /// Log-power values per frame out, ahead of the floor bands.
    let powerWidth: Int
    /// The band pooling (nil: one input per bin).
    let bands: ERBBands?
    /// The running normalisation's state (nil: another input norm, which the network's first layer does).
    private let runningNorm: RunningNormalizer?
    /// The noise-floor input: its band pooling and its tracker's state (nil: none).
    let floor: (bands: ERBBands, tracker: NoiseFloorTracker)?
    /// Whether the floor pools as the input bands do (the same count of bands), so a frame is pooled once for both.
    private let floorSharesPooling: Bool
    /// The batch entry's output [rows × inputWidth]; empty until a stage that changes its input is given a batch.
    private let batchOutput = Matrix(rows: 0, cols: 0)
    /// The pooling's scratch for one frame's bin powers [1 × bins] (`ERBBands.pool`).
    private let binPowers: Matrix

    /// `runningNorm`: a fresh state over `bands.bands` values with bands, `bins` values without. `floor`: a
    /// pooling of `bins` and a fresh tracker of as many bands.
    init(bins: Int, bands: ERBBands?, runningNorm: RunningNormalizer?,
         floor: (bands: ERBBands, tracker: NoiseFloorTracker)? = nil) {
        let powerWidth = bands?.bands ?? bins
        precondition(bands.map { $0.bins == bins } ?? true,
                     "InputStage: the bands pool \(bands?.bins ?? 0) bins, not \(bins)")
        precondition(runningNorm.map { $0.bins == powerWidth } ?? true,
                     "InputStage: the running norm has \(runningNorm?.bins ?? 0) values, not \(powerWidth)")
        precondition(floor.map { $0.bands.bins == bins && $0.tracker.bands == $0.bands.bands } ?? true,
                     "InputStage: the floor's pooling and tracker do not fit \(bins) bins")
        self.bins = bins
        self.powerWidth = powerWidth
        self.inputWidth = powerWidth + (floor?.bands.bands ?? 0)
        self.bands = bands
        self.runningNorm = runningNorm
        self.floor = floor
        floorSharesPooling = floor.map { $0.bands == bands } ?? false
        binPowers = Matrix(rows: bands != nil || floor != nil ? 1 : 0, cols: bins)
    }

    /// True when the stage changes nothing (no bands, running norm or floor): the features are the input.
    var isIdentity: Bool { bands == nil && runningNorm == nil && floor == nil }

    /// True with the running norm or the floor: a frame's output depends on the frames before it, so the caller
    /// feeds every frame of a stream once, in order, and calls `reset` between streams.
    var isStateful: Bool { runningNorm != nil || floor != nil }

    /// Forgets every frame so far: the next one starts an utterance.
    func reset() {
        runningNorm?.reset()
        floor?.tracker.reset()
    }

    /// The network input y [inputWidth] of the next frame of the stream, from its log-powers x [bins] (y may not
    /// be x when there are bands). Allocates nothing.
    func transformFrame(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let heights = y + powerWidth
        if let bands {
            bands.pool(x, into: y, powers: binPowers.row(0))
            if floorSharesPooling { heights.update(from: y, count: powerWidth) }
            runningNorm?.normalize(y, into: y)
        } else if let runningNorm {
            runningNorm.normalize(x, into: y)
        } else {
            y.update(from: x, count: bins)
        }
        if let floor {
            if !floorSharesPooling { floor.bands.pool(x, into: heights, powers: binPowers.row(0)) }
            floor.tracker.track(heights, into: heights)
        }
    }

    /// The network input [rows × inputWidth] of a batch of utterances `features` [rows × bins] laid out as
    /// `layout`: `features` itself when the stage is the identity, otherwise a matrix that belongs to the stage
    /// (valid until its next batch), whose padding rows are zero. Each utterance goes through the stage from its
    /// first frame with a fresh state, as `reset` then `transformFrame` on every frame in order would give it.
    ///
    /// The band pooling has no state, so every real row is pooled first, in parallel over `layout.parallelism`;
    /// then the running norm goes through each utterance's pooled frames in order, in place. With the floor, each
    /// utterance goes through `transformFrame` frame by frame instead (its rows interleave both inputs).
    func transformBatch(_ features: Matrix, layout: SequenceBatch) -> Matrix {
        precondition(features.cols == bins, "InputStage expects \(bins) features per frame, got \(features.cols)")
        precondition(features.rows == layout.rows,
                     "InputStage: features have \(features.rows) rows but the layout has \(layout.rows)")
        if isIdentity { return features }
        batchOutput.resize(rows: layout.rows, cols: inputWidth)
        if floor != nil {
            for b in 0..<layout.batch {
                reset()
                for row in layout.realRows(of: b) { transformFrame(features.row(row), into: batchOutput.row(row)) }
            }
            batchOutput.zeroPaddingRows(of: layout)
            return batchOutput
        }
        // The running norm reads the pooled bands, or the features themselves without bands.
        var normInput = features
        if let bands {
            let output = batchOutput
            layout.forEachRealRowPiece(chunks: layout.parallelism.chunks(elements: layout.realFrames * bins)) {
                _, rows in
                let powers = Matrix(rows: 1, cols: bins)
                for row in rows { bands.pool(features.row(row), into: output.row(row), powers: powers.row(0)) }
            }
            normInput = batchOutput
        }
        if let runningNorm {
            for b in 0..<layout.batch {
                let first = layout.realRows(of: b).lowerBound
                runningNorm.normalizeUtterance(normInput.row(first), frames: layout.lengths[b],
                                               into: batchOutput.row(first))
            }
        }
        batchOutput.zeroPaddingRows(of: layout)
        return batchOutput
    }
}
