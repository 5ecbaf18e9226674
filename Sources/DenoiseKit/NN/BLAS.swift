import COpenBLAS

/// Matrix products on OpenBLAS, row-major throughout. The only file that talks to BLAS.
public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is [m×k] and op(B) is [k×n].
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (before transposition).
    static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y += alpha · x over n values.
    static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    /// y[m] = A[m×n] · x[n] + beta · y, A row-major with row stride `lda`: one frame through a layer.
    static func gemv(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                            beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        guard m > 0, n > 0 else { return }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// The obviously-correct triple loop that `gemm` is tested against. Same contract.
    static func referenceGemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let aip = transA ? a[p * lda + i] : a[i * lda + p]
                    let bpj = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(aip) * Double(bpj)
                }
                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(sum) + old
            }
        }
    }

    /// One product C[m×n] = op(A) · op(B) on operands made once here (A all 0.5, B all 0.25), as a closure that
    /// runs it again at each call: `denoise bench` times it for sgemm's GFLOP/s (2·m·n·k per call) without
    /// handling the library's matrices itself.
    public static func product(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) -> () -> Void {
        let a = Matrix(rows: transA ? k : m, cols: transA ? m : k)
        let b = Matrix(rows: transB ? n : k, cols: transB ? k : n)
        a.fill(0.5)
        b.fill(0.25)
        let c = Matrix(rows: m, cols: n)
        return {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: a.cols, b: b.data, ldb: b.cols,
                 c: c.data, ldc: n)
        }
    }

    /// Threads OpenBLAS uses for one product.
    ///
    /// OpenBLAS keeps this count in one C global for the whole process; it has no per-call or per-thread
    /// setting. `useThreads` is the only code that changes it, and the callers set it from the thread count they
    /// were given, where work starts: the trainer's step (its `threads`), the denoiser (one thread: its products
    /// are modest, and batch workers or a host's audio thread must not fan out), and a convolution's per-utterance
    /// groups (one per group, then back). Nothing reads it to decide how to split work: that is `Parallelism`.
    /// Two models stepping at once on different counts in one process would share whichever count was set last.
    static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernels OpenBLAS chose for this CPU when it loaded (e.g. "Haswell", "Zen", "SkylakeX"), or the ones
    /// OPENBLAS_CORETYPE asked for.
    public static var kernels: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS's count before this process changed it: the cores, or OPENBLAS_NUM_THREADS.
    public static let defaultThreads = max(1, Int(openblas_get_num_threads()))

    /// Sets the threads of every later product (see `threads`); does nothing when the count is already `count`.
    public static func useThreads(_ count: Int) {
        let count = max(1, count)
        guard count != threads else { return }
        _ = defaultThreads
        _ = threadPoolStarted
        openblas_set_num_threads(Int32(count))
    }

    /// OpenBLAS 0.3.21 runs sgemm about 3× slower on one thread for the rest of the process when the thread
    /// count is lowered before its thread pool has ever run (measured: Conv1d 0.21 s against 0.07 s). One
    /// product on the default threads first, once per process, avoids that.
    private static let threadPoolStarted: Void = {
        let n = 256
        let a = [Float](repeating: 0, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        gemm(m: n, n: n, k: n, a: a, lda: n, b: a, ldb: n, c: &c, ldc: n)
    }()
}
