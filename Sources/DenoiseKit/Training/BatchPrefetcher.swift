import Foundation

/// Makes batches `0 ..< count` in order on a background queue, at most `depth` ahead of the one taken last, so
/// that reading, resampling and spectra overlap the network's math while memory holds only a few batches.
///
/// `make` runs on the queue and may use the caller's state: call `finish()` (it waits for batches already
/// started) before that state goes away, also when leaving early.
final class BatchPrefetcher<Batch>: @unchecked Sendable {
    private let make: (Int) throws -> Batch
    private let count: Int
    private let depth: Int
    private let queue = DispatchQueue(label: "denoise.batch-prefetch")
    /// Guards `made`.
    private let condition = NSCondition()
    private var made: [Int: Result<Batch, Error>] = [:]
    /// Batches handed to the queue so far (touched by the caller's thread only).
    private var requested = 0

    init(count: Int, depth: Int, make: @escaping (Int) throws -> Batch) {
        precondition(depth >= 1, "a prefetcher needs a depth of at least 1")
        self.make = make
        self.count = count
        self.depth = depth
        while requested < min(depth, count) { requestNext() }
    }

    /// Batch `index` (taken in order), once made; rethrows what making it threw. Queues the batch `depth` ahead.
    func take(_ index: Int) throws -> Batch {
        condition.lock()
        var result = made.removeValue(forKey: index)
        while result == nil {
            condition.wait()
            result = made.removeValue(forKey: index)
        }
        condition.unlock()
        if requested < count { requestNext() }
        guard let result else { preconditionFailure("unreachable: the loop ends only with a batch") }
        return try result.get()
    }

    /// Waits until every batch handed to the queue is made, and drops those not taken.
    func finish() {
        queue.sync {}
        condition.lock()
        made.removeAll()
        condition.unlock()
    }

    private func requestNext() {
        let index = requested
        requested += 1
        queue.async { [self] in
            let result = Result { try make(index) }
            condition.lock()
            made[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }
}
