import DenoiseKit
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The parser one fuzzing process exercises, chosen by `DENOISE_FUZZ_TARGET` (libFuzzer build) or `--target`.
enum FuzzTarget: String, CaseIterable {
    /// `WAVReader(url:)`, then `read(maxFrames:)` until it returns nil.
    case wav
    /// `SafeTensors.decode(_:path:)`, then `DenoiseModel(safeTensors:path:)`.
    case model

    static let environmentVariable = "DENOISE_FUZZ_TARGET"
}

/// What one input did. Rejection by a thrown error is the expected outcome for most fuzz inputs;
/// anything else (a trap, an ASan report, a broken invariant below) is a bug.
enum FuzzOutcome: CustomStringConvertible {
    case acceptedWAV(format: WAVFormat, frames: Int)
    case acceptedModel(tensors: Int, parameters: Int)
    case rejected(Error)

    var description: String {
        switch self {
        case let .acceptedWAV(format, frames): return "accepted: \(format), \(frames) frames"
        case let .acceptedModel(tensors, parameters): return "accepted: \(tensors) tensors, \(parameters) parameters"
        case let .rejected(error): return "rejected: \(error)"
        }
    }
}

/// Runs fuzz inputs through one parser. Besides "no trap", it checks invariants a correct parser keeps,
/// with `precondition` so that a violation is reported by libFuzzer like a crash:
/// - WAV: the pieces returned by `read(maxFrames:)` add up to `frameCount`, each has the format's channel
///   count and rate, integer PCM samples lie in [-1, 1] and float samples are finite.
/// - model: a decoded file encodes to bytes that decode and encode to the same bytes again.
final class FuzzHarness: Sendable {
    let target: FuzzTarget
    /// One scratch file per process, rewritten for every input: WAVReader reads from a URL.
    private let scratchURL: URL
    /// Frames per `read(maxFrames:)`; odd so that pieces rarely line up with the reader's buffer.
    private static let framesPerRead = 997
    /// The name parsers put in their error messages.
    private static let inputName = "fuzz-input"

    init(target: FuzzTarget) {
        self.target = target
        let name = "denoise-fuzz-\(getpid()).wav"
        scratchURL = FileManager.default.temporaryDirectory.appendingPathComponent(name)
    }

    deinit { unlink(scratchURL.path) }

    /// Runs one input; traps (on purpose) only when an invariant above is broken.
    @discardableResult
    func run(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        if target == .wav {
            // A harness failure must stop the run loudly, not pass as a rejected input.
            do { try writeScratch(input) } catch { fatalError("denoise-fuzz harness: \(error)") }
        }
        do {
            switch target {
            case .wav: return try runWAV()
            case .model: return try runModel(input)
            }
        } catch {
            return .rejected(error)
        }
    }

    /// Expects the input already in the scratch file.
    private func runWAV() throws -> FuzzOutcome {
        let reader = try WAVReader(url: scratchURL)
        let format = reader.format
        var frames = 0
        while let piece = try reader.read(maxFrames: Self.framesPerRead) {
            precondition(piece.channelCount == format.channelCount, "piece has \(piece.channelCount) channels")
            precondition(piece.sampleRate == format.sampleRate, "piece has rate \(piece.sampleRate)")
            precondition(piece.frameCount > 0 && piece.frameCount <= Self.framesPerRead,
                         "piece has \(piece.frameCount) frames")
            for channel in piece.channels {
                precondition(channel.count == piece.frameCount, "channels of one piece differ in length")
                for x in channel {
                    precondition(x.isFinite, "non-finite sample \(x) was returned")
                    // [-1, 1], not [-1, 1): 32-bit PCM 0x7FFFFFFF rounds to exactly 1 as a Float.
                    precondition(format.sampleFormat.isFloat || abs(x) <= 1, "PCM sample \(x) out of [-1, 1]")
                }
            }
            frames += piece.frameCount
        }
        precondition(frames == reader.frameCount, "read \(frames) frames, header says \(reader.frameCount)")
        precondition(reader.framesRead == frames, "framesRead \(reader.framesRead) != \(frames)")
        return .acceptedWAV(format: format, frames: frames)
    }

    private func runModel(_ input: UnsafeRawBufferPointer) throws -> FuzzOutcome {
        let data = input.isEmpty ? Data() : Data(input)
        let file = try SafeTensors.decode(data, path: Self.inputName)
        let encoded = file.encoded()
        let again: Data
        do { again = try SafeTensors.decode(encoded, path: "re-encoded").encoded() } catch {
            preconditionFailure("a decoded file re-encodes to bytes that do not decode: \(error)")
        }
        precondition(again == encoded, "encode → decode → encode is not stable")
        let model = try DenoiseModel(safeTensors: file, path: Self.inputName)
        let parameters = model.net.parameterCount
        return .acceptedModel(tensors: file.tensors.count, parameters: parameters)
    }

    /// Replaces the scratch file's contents with `input` (plain POSIX calls: cheap, and no atomic rename).
    private func writeScratch(_ input: UnsafeRawBufferPointer) throws {
        let fd = open(scratchURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FuzzSetupError.scratch(path: scratchURL.path, reason: errnoText()) }
        defer { close(fd) }
        var done = 0
        while done < input.count, let base = input.baseAddress {
            let n = write(fd, base + done, input.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FuzzSetupError.scratch(path: scratchURL.path, reason: errnoText())
            }
            done += n
        }
    }
}

/// A failure of the harness itself (not of the input): reported, never counted as a finding.
enum FuzzSetupError: Error, CustomStringConvertible {
    case scratch(path: String, reason: String)
    case seeds(path: String, reason: String)

    var description: String {
        switch self {
        case let .scratch(path, reason): return "cannot write the scratch file \(path): \(reason)"
        case let .seeds(path, reason): return "cannot write seeds to \(path): \(reason)"
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
