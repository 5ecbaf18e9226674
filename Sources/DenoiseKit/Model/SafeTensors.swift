import Foundation

/// The safetensors container: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Python users open our
/// model files with the `safetensors` package as they are. Tensors are stored as float32 ("F32") or, for files
/// half the size, float16 ("F16"); in memory they are float32 either way.
public struct SafeTensors: Equatable, Sendable {
    /// How a tensor's values are stored in the file.
    public enum Precision: String, Equatable, Sendable, CaseIterable {
        case float32 = "F32"
        case float16 = "F16"

        var byteWidth: Int { self == .float32 ? 4 : 2 }
    }

    public struct Tensor: Equatable, Sendable {
        public var shape: [Int]
        /// The values as float32. A float16 tensor is written rounded to nearest, ties to even; values past
        /// float16's range would become infinities, so writers check `fitsFloat16` first.
        public var values: [Float]
        public var precision: Precision
        public init(shape: [Int], values: [Float], precision: Precision = .float32) {
            precondition(shape.reduce(1, *) == values.count,
                         "tensor shape \(shape) does not match \(values.count) values")
            self.shape = shape
            self.values = values
            self.precision = precision
        }

        /// Whether every value rounds to a finite float16.
        public var fitsFloat16: Bool { values.allSatisfy { Float16($0).isFinite } }
    }

    /// Tensors by name; written in name order so that files are reproducible.
    public var tensors: [String: Tensor]
    /// Free-form string metadata (`__metadata__` in the header).
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The header length we accept; real model headers are a few kB.
    static let maximumHeaderLength = 16 << 20

    public func encoded() -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.values.count * tensor.precision.byteWidth
            header[name] = ["dtype": tensor.precision.rawValue, "shape": tensor.shape,
                            "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            let tensor = tensors[name]!
            switch tensor.precision {
            case .float32:
                tensor.values.withUnsafeBufferPointer { buffer in
                    // Float is little-endian on every platform Swift runs on here; the format wants LE.
                    out.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!)
                        .assumingMemoryBound(to: UInt8.self), count: buffer.count * 4))
                }
            case .float16:
                let halves = tensor.values.map { Float16($0).bitPattern.littleEndian }
                halves.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Parses `data` (the whole file). `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> SafeTensors {
        func fail(_ reason: String) -> ModelFileError { .malformed(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
        }
        guard headerLength <= UInt64(maximumHeaderLength), Int(headerLength) <= data.count - 8 else {
            throw fail("header claims \(headerLength) bytes but the file has \(data.count - 8) after the length field")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<headerEnd)
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataLength = data.count - headerEnd
        var result = SafeTensors()
        var ranges: [(Int, Int)] = []
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let metadata = entry as? [String: String] else {
                    throw fail("__metadata__ must map strings to strings")
                }
                result.metadata = metadata
                continue
            }
            guard let info = entry as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2
            else { throw fail("tensor '\(name)' has no valid dtype, shape and data_offsets") }
            guard let precision = Precision(rawValue: dtype) else {
                throw fail("tensor '\(name)' has dtype \(dtype); only F32 and F16 are supported")
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw fail("tensor '\(name)' has a bad shape \(shape)")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let begin = offsets[0], end = offsets[1]
            // Compare in bytes / width, not count * width: a shape like [2^31 - 1, 2^31 - 1] passes the checks
            // above and its byte count would overflow Int (a trap, not an error).
            let width = precision.byteWidth
            guard !overflow, begin >= 0, end >= begin, end <= dataLength, (end - begin) % width == 0,
                  count == (end - begin) / width else {
                throw fail("tensor '\(name)' has data_offsets \(offsets) "
                           + "that do not fit its shape \(shape) and the file")
            }
            ranges.append((begin, end))
            let bytes = (headerEnd + begin)..<(headerEnd + end)
            var values = [Float](repeating: 0, count: count)
            switch precision {
            case .float32:
                values.withUnsafeMutableBytes { dst in data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: bytes) }
            case .float16:
                data.withUnsafeBytes { raw in
                    let start = bytes.lowerBound - data.startIndex
                    for i in 0..<count {
                        let bits = raw.loadUnaligned(fromByteOffset: start + 2 * i, as: UInt16.self)
                        values[i] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
                    }
                }
            }
            result.tensors[name] = Tensor(shape: shape, values: values, precision: precision)
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw fail("tensor data ranges overlap")
        }
        return result
    }

    public static func read(url: URL) throws -> SafeTensors {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelFileError.unreadable(path: url.path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw ModelFileError.unreadable(path: url.path, reason: "is a directory") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelFileError.unreadable(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }

    /// Writes atomically: a temporary file in the same folder, renamed into place.
    public func write(to url: URL) throws {
        try AtomicFile.write(encoded(), to: url)
    }
}
