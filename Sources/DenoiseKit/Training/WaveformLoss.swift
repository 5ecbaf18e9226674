import Foundation

extension Loss {
    /// Added to both energies of the SI-SDR ratio, as `SignalMetrics.siSDR` does: a silent estimate scores 0 dB.
    static let waveformEpsilon = 1e-10

    /// A waveform term: minus the mean SI-SDR (dB) of the utterances the mask makes, measured as `eval` and the
    /// validation report measure it, so training can pull on the figure itself rather than on spectral stand-ins.
    ///
    /// Per utterance, Y = m ⊙ X (the mask on the noisy spectrum, noisy phase) and y = `STFT.synthesize`(Y) at the
    /// clean recording's length. With y and the clean s made zero-mean,
    ///
    ///     P = ⟨y, s⟩² / ‖s‖²,   E = ‖y‖² − P,   SI-SDR = 10·log10((P + ε) / (E + ε))
    ///     dSI-SDR/dy = (10 / ln 10) · (∇P / (P + ε) − (2y − ∇P) / (E + ε)),   ∇P = 2·⟨y, s⟩·s / ‖s‖²
    ///
    /// (already zero-mean, so the mean removal passes it through), then back through the synthesis
    /// (`STFT.synthesisGradient`) to dL/dm = dL/dRe Y · Re X + dL/dIm Y · Im X.
    ///
    /// L = −mean SI-SDR over the utterances whose clean side is not silent (0 if none is). `mask`, `noisyReal` and
    /// `noisyImag` are [rows × bins] as `layout` says; `clean[b]` is utterance b's clean samples, whose STFT frames
    /// are its real rows. `weight`·dL/dm is *added* to `gradient` (the spectral loss writes it first). Returns
    /// `weight`·L, the term as it enters the loss.
    static func waveformSISDR(mask: Matrix, noisyReal: Matrix, noisyImag: Matrix, clean: [[Float]],
                              layout: SequenceBatch, stft: STFT, weight: Float = 1, gradient: Matrix) -> Float {
        checkShapes(mask, noisyReal, noisyImag, layout: layout, loss: "waveformSISDR")
        checkShapes(mask, gradient, layout: layout, loss: "waveformSISDR (it adds to the gradient)")
        precondition(clean.count == layout.batch, "waveformSISDR: \(clean.count) clean signals for a batch of "
                     + "\(layout.batch)")
        let bins = mask.cols
        var terms: [(rows: Range<Int>, gradient: Spectrogram)] = [], sisdrSum = 0.0
        for b in 0..<layout.batch {
            let rows = layout.realRows(of: b), frames = STFT.frameCount(forSamples: clean[b].count, config: stft.config)
            precondition(rows.count == frames, "waveformSISDR: utterance \(b) has \(rows.count) frames, its "
                         + "\(clean[b].count) clean samples make \(frames)")
            let s = zeroMean(clean[b]), cleanEnergy = s.reduce(0.0) { $0 + $1 * $1 }
            guard cleanEnergy > waveformEpsilon else { continue }  // no SI-SDR: nothing to synthesise
            var enhanced = Spectrogram(frames: 0, bins: bins)
            enhanced.reserveFrames(frames)
            for (t, row) in rows.enumerated() {
                enhanced.appendFrame(real: noisyReal.row(row), imag: noisyImag.row(row))
                Features.applyMask(mask.row(row), to: &enhanced, frame: t)
            }
            let y = zeroMean(stft.synthesize(enhanced, length: clean[b].count))
            var cross = 0.0, enhancedEnergy = 0.0
            for i in s.indices {
                cross += y[i] * s[i]
                enhancedEnergy += y[i] * y[i]
            }
            let target = cross * cross / cleanEnergy, error = max(enhancedEnergy - target, 0)
            sisdrSum += 10 * log10((target + waveformEpsilon) / (error + waveformEpsilon))
            let dB = 10 / log(10.0), targetShare = dB / (target + waveformEpsilon)
            let errorShare = dB / (error + waveformEpsilon), slope = 2 * cross / cleanEnergy
            let dSISDR = s.indices.map { i in
                Float(targetShare * slope * s[i] - errorShare * (2 * y[i] - slope * s[i]))
            }
            terms.append((rows, stft.synthesisGradient(dSISDR, frames: rows.count)))
        }
        guard !terms.isEmpty else { return 0 }
        let scale = -weight / Float(terms.count)
        for (rows, spectral) in terms {
            for (t, row) in rows.enumerated() {
                for f in 0..<bins {
                    let k = t * bins + f
                    gradient[row, f] += scale * (spectral.real[k] * noisyReal[row, f]
                                                 + spectral.imag[k] * noisyImag[row, f])
                }
            }
        }
        return -weight * Float(sisdrSum / Double(terms.count))
    }

    private static func zeroMean(_ x: [Float]) -> [Double] {
        let mean = x.reduce(0.0) { $0 + Double($1) } / Double(max(x.count, 1))
        return x.map { Double($0) - mean }
    }
}
