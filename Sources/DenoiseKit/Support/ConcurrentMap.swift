import Dispatch
import Synchronization

/// `transform(i)` for every i in 0..<count, spread over the cores, the results in index order. For work that is
/// mostly waiting on the disk (opening, reading and scoring files); each call owns everything it touches.
func concurrentMap<T: Sendable>(_ count: Int, _ transform: @Sendable (Int) -> T) -> [T] {
    let results = Mutex([T?](repeating: nil, count: count))
    DispatchQueue.concurrentPerform(iterations: count) { i in
        let result = transform(i)
        results.withLock { $0[i] = result }
    }
    return results.withLock { $0.compactMap { $0 } }
}
