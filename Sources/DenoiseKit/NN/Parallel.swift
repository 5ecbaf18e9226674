import Dispatch

/// How many threads the passes over a batch may share: carried by the batch's layout (and handed to the optimizer),
/// so that how work is split is a value the caller passes, not a process-wide setting. Serial unless the caller
/// asks for more: the trainer gives its thread count; inference runs on one thread.
struct Parallelism: Equatable, Sendable {
    /// The most chunks a pass is split into.
    var threads: Int
    /// Elements below which a pass stays on one thread: handing work to another thread costs a few
    /// microseconds, a pass over 10⁵ floats takes tens. Tests lower it to split small batches.
    var minimumElements = 100_000

    init(threads: Int) {
        precondition(threads >= 1, "the thread count must be at least 1, not \(threads)")
        self.threads = threads
    }

    /// Everything on the calling thread.
    static let serial = Parallelism(threads: 1)

    /// The number of chunks for a pass over `elements` values: 1 when small or when serial.
    func chunks(elements: Int) -> Int {
        guard elements >= 2 * minimumElements else { return 1 }
        return max(1, min(threads, elements / minimumElements))
    }
}

/// Splits the element-wise passes of the layers across the threads their batch's `Parallelism` allows, so that a
/// training step scales with threads beyond its matrix products.
///
/// Chunks are contiguous row ranges of nearly equal size, fixed by the row count and the thread count, so
/// results do not depend on scheduling (sums combine chunk partials in chunk order).
enum Parallel {
    /// Runs `body(chunk)` for every chunk in 0..<count, concurrently when count > 1.
    ///
    /// `body` is not `@Sendable`: it captures the layer's matrices and pointers, which are shared mutable state.
    /// What makes the concurrent calls safe is the split itself: chunk `c` reads shared inputs and writes only its
    /// own rows (`part(c, …)`, `forEachRealRowPiece`) or its own slot of a per-chunk buffer, and every chunk has
    /// finished when `run` returns. The compiler cannot see a partition of rows, so that promise is made here,
    /// once, for every pass.
    @inline(__always)
    static func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            body(0)
        } else {
            withoutActuallyEscaping(body) { body in
                nonisolated(unsafe) let body = body  // chunks touch disjoint rows; see above
                DispatchQueue.concurrentPerform(iterations: count) { body($0) }
            }
        }
    }

    /// Runs `body(part)` for every part in 0..<count, concurrently when count > 1, with OpenBLAS on one thread
    /// meanwhile: each thread then runs whole products, which beats splitting each of many modest products
    /// (a convolution's, per utterance and tap) across threads.
    static func runWithSingleThreadedProducts(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1 else { return body(0) }
        let saved = BLAS.threads
        BLAS.useThreads(1)
        defer { BLAS.useThreads(saved) }
        run(count, body)
    }

    /// Rows `chunk · total / count ..< (chunk + 1) · total / count`: `count` nearly equal contiguous parts.
    @inline(__always)
    static func part(_ chunk: Int, of count: Int, total: Int) -> Range<Int> {
        (chunk * total / count) ..< ((chunk + 1) * total / count)
    }
}

/// Room for per-chunk partial results (sums, counters), kept from call to call: it grows only when more room
/// is needed (a larger model or more threads), so a training step allocates nothing.
final class ScratchBuffer<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private var capacity: Int
    private let zero: Element

    init(zero: Element) {
        self.zero = zero
        capacity = 1
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: zero)
    }

    deinit { pointer.deallocate() }

    /// `count` values set to zero, growing the buffer first if it is too small.
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        pointer.initialize(repeating: zero, count: count)
        return pointer
    }
}
