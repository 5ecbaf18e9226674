import Dispatch
import Synchronization

/// Makes batches `0 ..< count` in order on a background queue, at most `depth` ahead of the one taken last, so
/// that reading, resampling and spectra overlap the network's math while memory holds only a few batches.
///
/// `make` runs on the queue, so it may capture only Sendable state, and batches cross to the caller as values.
/// `finish()` waits for batches already started; call it also when leaving early.
final class BatchPrefetcher<Batch: Sendable>: Sendable {
    private let make: @Sendable (Int) throws -> Batch
    private let count: Int
    private let depth: Int
    private let queue = DispatchQueue(label: "denoise.batch-prefetch")
    /// Batches made and not yet taken.
    private let made = Mutex<[Int: Result<Batch, Error>]>([:])
    /// One per batch, signalled once the batch is in `made`.
    private let ready: [DispatchSemaphore]

    init(count: Int, depth: Int, make: @escaping @Sendable (Int) throws -> Batch) {
        precondition(depth >= 1, "a prefetcher needs a depth of at least 1")
        self.make = make
        self.count = count
        self.depth = depth
        self.ready = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        for index in 0 ..< min(depth, count) { request(index) }
    }

    /// Batch `index` (taken in order, each once), once made; rethrows what making it threw. Queues the batch
    /// `depth` ahead.
    func take(_ index: Int) throws -> Batch {
        ready[index].wait()
        let result = made.withLock { $0.removeValue(forKey: index) }
        if index + depth < count { request(index + depth) }
        guard let result else { preconditionFailure("batch \(index) was taken twice") }
        return try result.get()
    }

    /// Waits until every batch handed to the queue is made, and drops those not taken.
    func finish() {
        queue.sync {}
        made.withLock { $0.removeAll() }
    }

    private func request(_ index: Int) {
        queue.async { [self] in
            let result = Result { try make(index) }
            made.withLock { $0[index] = result }
            ready[index].signal()
        }
    }
}
