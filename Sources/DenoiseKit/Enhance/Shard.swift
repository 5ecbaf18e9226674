/// One of N equal shares of a batch, for running it as N independent tasks (a Slurm array, a Kubernetes
/// Indexed Job): task K of N takes the files whose key hashes to K - 1 modulo N.
///
/// The key is a file's path relative to the folder it was found in (its name, for a file given directly), and
/// the hash is FNV-1a 64 of its UTF-8 bytes, so a share depends on nothing but the names: not the machine, the
/// listing order or the other files. The N shares together hold every file exactly once.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    /// 1...count.
    public let index: Int
    public let count: Int

    /// nil unless 1 <= index <= count.
    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses "K/N", e.g. "3/10"; nil for anything else.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else { return nil }
        self.init(index: index, count: count)
    }

    public var description: String { "\(index)/\(count)" }

    public func contains(key: String) -> Bool {
        Int(Self.fnv1a64(key) % UInt64(count)) == index - 1
    }

    /// FNV-1a, 64-bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
