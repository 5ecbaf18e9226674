import CFFTW3
import Foundation

/// A real-to-complex FFT of one size, backed by FFTW single precision.
///
/// Plans are made once per size and cached for the life of the process: FFTW's planner is not
/// thread-safe, so planning is serialised by a lock, while execution uses FFTW's new-array functions,
/// which may run concurrently from any number of threads on different buffers.
///
/// Transforms are unnormalised, as FFTW's: `inverse(forward(x)) == size * x`. Callers scale once,
/// in one place (the STFT synthesis window folds the 1/size in).
final class RealFFT: @unchecked Sendable {
    let size: Int
    /// Number of complex bins of the half spectrum: size / 2 + 1.
    var bins: Int { size / 2 + 1 }
    private let plans: PlanPair

    init(size: Int) {
        precondition(size > 0 && size % 2 == 0, "RealFFT size must be positive and even, got \(size)")
        self.size = size
        self.plans = PlanCache.shared.plans(for: size)
    }

    /// Forward transform of `size` real samples into `bins` complex values, interleaved (re, im).
    /// `output` must hold 2 * bins floats. Input is not modified.
    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        output.withMemoryRebound(to: fftwf_complex.self, capacity: bins) { out in
            // FFTW's r2c never writes its input, but its signature is not const.
            fftwf_execute_dft_r2c(plans.forward, UnsafeMutablePointer(mutating: input), out)
        }
    }

    /// Inverse transform of `bins` interleaved complex values into `size` real samples, unnormalised.
    /// FFTW's c2r overwrites its input: pass a scratch copy if the spectrum is needed afterwards.
    func inverse(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        input.withMemoryRebound(to: fftwf_complex.self, capacity: bins) { inp in
            fftwf_execute_dft_c2r(plans.inverse, inp, output)
        }
    }
}

struct PlanPair: @unchecked Sendable {
    let forward: fftwf_plan
    let inverse: fftwf_plan
}

/// Process-wide cache of FFTW plans, one pair per transform size.
final class PlanCache: @unchecked Sendable {
    static let shared = PlanCache()
    private let lock = NSLock()
    private var cache: [Int: PlanPair] = [:]

    func plans(for size: Int) -> PlanPair {
        lock.lock()
        defer { lock.unlock() }
        if let pair = cache[size] { return pair }
        // Plans are made on scratch arrays; FFTW_UNALIGNED lets them run on any caller buffer.
        let bins = size / 2 + 1
        let real = fftwf_alloc_real(size)!
        let spectrum = fftwf_alloc_complex(bins)!
        defer { fftwf_free(real); fftwf_free(spectrum) }
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
        let forward = fftwf_plan_dft_r2c_1d(Int32(size), real, spectrum, flags)!
        let inverse = fftwf_plan_dft_c2r_1d(Int32(size), spectrum, real, flags)!
        let pair = PlanPair(forward: forward, inverse: inverse)
        cache[size] = pair
        return pair
    }
}
