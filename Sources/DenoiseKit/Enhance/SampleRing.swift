/// A first-in first-out queue of samples in one fixed allocation: the fixed-latency denoiser's delay lines (the
/// denoised output waiting to be handed out, and the dry input waiting to be blended with it). Allocates nothing
/// after creation; pushing beyond the capacity is a programming error.
final class SampleRing {
    let capacity: Int
    private(set) var count = 0
    private let storage: UnsafeMutablePointer<Float>
    /// Index of the oldest sample.
    private var head = 0

    init(capacity: Int) {
        precondition(capacity >= 1, "a SampleRing needs room for at least one sample")
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0, count: capacity)
    }

    deinit { storage.deallocate() }

    /// Appends `n` samples from `source`, or zeros when `source` is nil.
    func push(_ source: UnsafePointer<Float>?, count n: Int) {
        precondition(count + n <= capacity, "SampleRing overflow: \(count) + \(n) samples in a ring of \(capacity)")
        var done = 0
        while done < n {
            let tail = (head + count) % capacity
            let run = min(n - done, capacity - tail)
            if let source {
                (storage + tail).update(from: source + done, count: run)
            } else {
                (storage + tail).update(repeating: 0, count: run)
            }
            count += run
            done += run
        }
    }

    /// Removes and returns the oldest sample.
    @inline(__always)
    func pop() -> Float {
        precondition(count > 0, "SampleRing underflow")
        let value = storage[head]
        head = head + 1 == capacity ? 0 : head + 1
        count -= 1
        return value
    }

    func removeAll() {
        head = 0
        count = 0
    }
}
