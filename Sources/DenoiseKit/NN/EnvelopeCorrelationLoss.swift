import Foundation

extension Loss {
    /// Added to each band's power before the square root: keeps de/dm finite where the masked band is empty.
    static let envelopeEpsilon: Double = 1e-12

    /// An intelligibility term shaped like STOI (see `STOI`), differentiable in the mask: 1 − the mean correlation
    /// between the clean and the enhanced (masked noisy) band envelopes over sliding segments of `segmentFrames`
    /// frames, so it rewards the envelope fluctuations that intelligibility rests on, whatever their level.
    ///
    /// Per utterance, frames whose clean energy Σ|S|² lies more than 40 dB below the loudest clean frame's are
    /// dropped (STOI's silence removal). On the kept frames, band j (a half-open range of bins in `bands`) has the
    /// envelopes
    ///
    ///     e_t = √(Σ_{k∈j} (m_k·|X_k|)² + ε),   c_t = √(Σ_{k∈j} |S_k|²)
    ///
    /// and for every segment of N consecutive kept frames, with ẽ and c̃ the segment minus its mean,
    ///
    ///     ρ = ẽ·c̃ / (‖ẽ‖·‖c̃‖),   dρ/de_t = c̃_t / (‖ẽ‖·‖c̃‖) − ρ·ẽ_t / ‖ẽ‖²,   de_t/dm_k = m_k·|X_k|² / e_t
    ///
    /// L = 1 − the mean of ρ over all segments and bands of the batch. Unlike STOI the enhanced envelope is not
    /// clipped (the clip has no gradient where it acts). Segments where either envelope is flat have no
    /// correlation and are left out; L is 0 when none is left (utterances shorter than N kept frames).
    ///
    /// `mask`, `noisyMagnitude` and `cleanMagnitude` are [rows × bins] as `layout` says. `weight`·dL/dm is *added*
    /// to `gradient`, which must already have the mask's shape (the spectral loss writes it first). Returns
    /// `weight`·L: the term as it enters the loss, matching the gradient it adds.
    static func envelopeCorrelation(mask: Matrix, noisyMagnitude: Matrix, cleanMagnitude: Matrix,
                                           layout: SequenceBatch, bands: [Range<Int>], segmentFrames: Int,
                                           weight: Float = 1, gradient: Matrix) -> Float {
        precondition(segmentFrames >= 2, "envelope correlation needs segments of at least 2 frames")
        checkShapes(mask, noisyMagnitude, cleanMagnitude, layout: layout, loss: "envelopeCorrelation")
        checkShapes(mask, gradient, layout: layout, loss: "envelopeCorrelation (it adds to the gradient)")
        precondition(bands.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= mask.cols },
                     "envelope correlation: a band lies outside the \(mask.cols) bins")
        let bands = bands.filter { !$0.isEmpty }
        var correlationSum = 0.0, segments = 0
        // dΣρ/de per utterance, [kept frame × band], chained to the mask once the segment count is known.
        var envelopeGradients: [(rows: [Int], enhanced: [Double], gradient: [Double])] = []
        for b in 0..<layout.batch {
            let rows = keptRows(layout.realRows(of: b), clean: cleanMagnitude)
            guard rows.count >= segmentFrames else { continue }
            let enhanced = bandEnvelopes(rows, bands) { row, bin in Double(mask[row, bin] * noisyMagnitude[row, bin]) }
            let clean = bandEnvelopes(rows, bands) { row, bin in Double(cleanMagnitude[row, bin]) }
            var envelopeGradient = [Double](repeating: 0, count: enhanced.count)
            for (j, _) in bands.enumerated() {
                for start in 0...(rows.count - segmentFrames) {
                    guard let rho = addCorrelationGradient(enhanced: enhanced, clean: clean, band: j,
                                                           bands: bands.count,
                                                           frames: start ..< start + segmentFrames,
                                                           into: &envelopeGradient) else { continue }
                    correlationSum += rho
                    segments += 1
                }
            }
            envelopeGradients.append((rows, enhanced, envelopeGradient))
        }
        guard segments > 0 else { return 0 }
        let scale = -Double(weight) / Double(segments)
        for (rows, enhanced, envelopeGradient) in envelopeGradients {
            for (t, row) in rows.enumerated() {
                for (j, band) in bands.enumerated() {
                    let factor = scale * envelopeGradient[t * bands.count + j] / enhanced[t * bands.count + j]
                    for bin in band {
                        let x = Double(noisyMagnitude[row, bin])
                        gradient[row, bin] += Float(factor * Double(mask[row, bin]) * x * x)
                    }
                }
            }
        }
        return weight * Float(1 - correlationSum / Double(segments))
    }

    /// The real rows of one utterance whose clean energy is within STOI's dynamic range (40 dB) of its loudest frame.
    private static func keptRows(_ rows: Range<Int>, clean: Matrix) -> [Int] {
        let energies = rows.map { row in
            (0..<clean.cols).reduce(0.0) { sum, bin in sum + Double(clean[row, bin]) * Double(clean[row, bin]) }
        }
        let floor = (energies.max() ?? 0) * pow(10, -STOIConstants.dynamicRange / 10)
        return zip(rows, energies).filter { $0.1 > floor }.map(\.0)
    }

    /// √(Σ_{k∈band} value² + ε) for every row and band, laid out [row × band].
    private static func bandEnvelopes(_ rows: [Int], _ bands: [Range<Int>],
                                      value: (_ row: Int, _ bin: Int) -> Double) -> [Double] {
        var envelopes = [Double](repeating: 0, count: rows.count * bands.count)
        for (t, row) in rows.enumerated() {
            for (j, band) in bands.enumerated() {
                var power = envelopeEpsilon
                for bin in band {
                    let v = value(row, bin)
                    power += v * v
                }
                envelopes[t * bands.count + j] = power.squareRoot()
            }
        }
        return envelopes
    }

    /// ρ of one band over `frames`, adding dρ/de_t to `gradient`; nil (and nothing added) if an envelope is flat.
    private static func addCorrelationGradient(enhanced: [Double], clean: [Double], band j: Int, bands: Int,
                                               frames: Range<Int>, into gradient: inout [Double]) -> Double? {
        var enhancedMean = 0.0, cleanMean = 0.0
        for t in frames {
            enhancedMean += enhanced[t * bands + j]
            cleanMean += clean[t * bands + j]
        }
        enhancedMean /= Double(frames.count)
        cleanMean /= Double(frames.count)
        var enhancedNorm = 0.0, cleanNorm = 0.0, cross = 0.0
        for t in frames {
            let e = enhanced[t * bands + j] - enhancedMean, c = clean[t * bands + j] - cleanMean
            enhancedNorm += e * e
            cleanNorm += c * c
            cross += e * c
        }
        // Flat: a standard deviation below 10⁻⁶ of the mean level (or zero) is rounding, not a fluctuation.
        func fluctuates(_ norm: Double, _ mean: Double) -> Bool { norm > 1e-12 * Double(frames.count) * mean * mean }
        guard fluctuates(enhancedNorm, enhancedMean), fluctuates(cleanNorm, cleanMean) else { return nil }
        let norms = (enhancedNorm * cleanNorm).squareRoot()
        let rho = cross / norms
        for t in frames {
            let e = enhanced[t * bands + j] - enhancedMean, c = clean[t * bands + j] - cleanMean
            gradient[t * bands + j] += c / norms - rho * e / enhancedNorm
        }
        return rho
    }
}
