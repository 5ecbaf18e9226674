/// A row-major 2-D Float buffer: `rows` frames × `cols` features (channels last).
///
/// Layers own their output and gradient matrices and reuse them from step to step: `resize`
/// reallocates only when the new shape needs more room, so a training step allocates nothing
/// once shapes have settled.
final class Matrix {
    private(set) var rows: Int
    private(set) var cols: Int
    /// The storage, for kernels inside the library; the public face is `subscript`, `array` and `fill`.
    private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int

    init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "Matrix shape must be non-negative, got \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.capacity = max(rows * cols, 1)
        self.data = Matrix.allocate(capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    convenience init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols,
                     "Matrix \(rows)×\(cols) needs \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { data.deallocate() }

    var count: Int { rows * cols }

    /// Changes the shape. Contents are kept only if the storage did not have to grow; callers
    /// that need zeros call `zero()` afterwards.
    func resize(rows: Int, cols: Int) {
        let needed = rows * cols
        if needed > capacity {
            data.deallocate()
            capacity = needed
            data = Matrix.allocate(capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        self.rows = rows
        self.cols = cols
    }

    func zero() { data.update(repeating: 0, count: count) }

    func fill(_ value: Float) { data.update(repeating: value, count: count) }

    subscript(row: Int, col: Int) -> Float {
        get { data[row * cols + col] }
        set { data[row * cols + col] = newValue }
    }

    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// A copy of the contents, row-major.
    var array: [Float] { Array(buffer) }

    /// Pointer to the first element of `row`.
    func row(_ row: Int) -> UnsafeMutablePointer<Float> { data + row * cols }

    /// Copies shape and contents of `other`.
    func copy(from other: Matrix) {
        resize(rows: other.rows, cols: other.cols)
        data.update(from: other.data, count: other.count)
    }

    // 64-byte alignment suits AVX-512 loads in BLAS kernels.
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }
}

extension Matrix {
    /// Writes zeros to the padding rows that `layout` describes (every row past an utterance's length).
    func zeroPaddingRows(of layout: SequenceBatch) {
        precondition(rows == layout.rows, "matrix has \(rows) rows but the layout has \(layout.rows)")
        let n = cols
        for b in 0..<layout.batch where layout.lengths[b] < layout.frames {
            let first = b * layout.frames + layout.lengths[b]
            let count = (layout.frames - layout.lengths[b]) * n
            (data + first * n).update(repeating: 0, count: count)
        }
    }
}
