/// Something wrong with a WAV file that still let it be read; the caller decides whether and how to say so.
public enum WAVWarning: CustomStringConvertible, Equatable, Sendable {
    /// The data chunk's size field claims more bytes than the file holds: the frames that are there were read.
    case dataCutShort(path: String, claimed: Int, available: Int)

    public var description: String {
        switch self {
        case let .dataCutShort(path, claimed, available):
            return "\(path): data chunk claims \(claimed) bytes but only \(available) remain (file cut short?); "
                + "read what is there"
        }
    }
}
