#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes all of `bytes` to `descriptor`, at its position or at `offset` (pwrite) when one is given: a write may
/// take fewer bytes than asked, or be interrupted by a signal, and both just go on. Returns nil once everything is
/// written, else the errno of the failure.
func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, atOffset offset: Int? = nil) -> Int32? {
    guard let base = bytes.baseAddress else { return nil }
    var done = 0
    while done < bytes.count {
        let n = offset.map { pwrite(descriptor, base + done, bytes.count - done, off_t($0 + done)) }
            ?? write(descriptor, base + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        done += n
    }
    return nil
}
