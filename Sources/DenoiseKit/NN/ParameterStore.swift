/// All parameters of a model in one flat Float buffer, and all their gradients in another.
///
/// Layers register their tensors at construction and keep `Parameter` handles: views (offset and
/// count) into the store. The optimizer then updates the whole model in one flat loop, and a model
/// file is a header plus slices of `values`. Each parameter says whether weight decay applies to it:
/// weights yes; biases and normalisation gains and shifts no.
final class ParameterStore {
    struct Entry: Equatable, Sendable {
        let name: String
        let shape: [Int]
        let offset: Int
        let count: Int
        let decays: Bool
        /// Left as it is by the optimizer (`freeze(where:)`).
        var frozen = false

        /// Its place in the flat buffers.
        var range: Range<Int> { offset..<(offset + count) }
    }

    private(set) var entries: [Entry] = []
    private(set) var count = 0
    /// The flat buffers, for the layers, optimizers and model files inside the library.
    private(set) var values: UnsafeMutablePointer<Float>
    private(set) var gradients: UnsafeMutablePointer<Float>
    private var capacity = 0
    /// Changes whenever the values may have changed (see `markValuesChanged`).
    private(set) var generation = 0

    /// False when every value will be overwritten anyway (a model about to load its weights from a file): `add`
    /// then writes zeros instead of calling its initialiser (a million random draws cost a few milliseconds of
    /// every `apply`).
    let runsInitializers: Bool

    /// `capacity`: the number of scalars expected, so that registering them never reallocates.
    init(capacity: Int = 1, runsInitializers: Bool = true) {
        self.runsInitializers = runsInitializers
        self.capacity = max(capacity, 1)
        values = .allocate(capacity: self.capacity)
        gradients = .allocate(capacity: self.capacity)
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    /// Registers a tensor named `name` (unique in the store) of `shape`, filled by `initial(i)` for
    /// its flat index i. Handles stay valid when later tensors grow the store.
    @discardableResult
    func add(_ name: String, shape: [Int], decays: Bool, initial: (Int) -> Float) -> Parameter {
        precondition(!entries.contains { $0.name == name }, "parameter name '\(name)' is already in the store")
        let n = shape.reduce(1, *)
        precondition(n > 0, "parameter '\(name)' has an empty shape \(shape)")
        reserve(count + n)
        if runsInitializers {
            for i in 0..<n { values[count + i] = initial(i) }
        } else {
            (values + count).update(repeating: 0, count: n)
        }
        (gradients + count).update(repeating: 0, count: n)
        let entry = Entry(name: name, shape: shape, offset: count, count: n, decays: decays)
        entries.append(entry)
        count += n
        return Parameter(store: self, offset: entry.offset, count: n)
    }

    /// To be called by whoever writes `values` (an optimizer step, a model load, a test setting weights by hand):
    /// layers that keep something derived from their weights between inference calls (Conv1d's tap-major
    /// copy) rebuild it when `generation` moves.
    func markValuesChanged() { generation &+= 1 }

    func zeroGradients() { gradients.update(repeating: 0, count: count) }

    func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Freezes exactly the tensors `isFrozen` picks (and thaws the others), so that optimizers leave them as they
    /// are (their gradients may still be computed): training one part of a model on what the rest already computes.
    func freeze(where isFrozen: (Entry) -> Bool) {
        for i in entries.indices { entries[i].frozen = isFrozen(entries[i]) }
    }

    var valueBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: values, count: count) }
    var gradientBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: gradients, count: count) }

    /// 1 where weight decay applies, 0 elsewhere; one value per scalar parameter.
    var decayMask: [Float] {
        var mask = [Float](repeating: 0, count: count)
        for e in entries where e.decays { for i in e.range { mask[i] = 1 } }
        return mask
    }

    private func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2)
        let newValues = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
        let newGradients = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
        newValues.update(from: values, count: count)
        newGradients.update(from: gradients, count: count)
        values.deallocate()
        gradients.deallocate()
        values = newValues
        gradients = newGradients
        capacity = newCapacity
    }
}

/// A view of one tensor in a `ParameterStore`. Pointers are looked up at each access, so they stay
/// right after the store grows.
struct Parameter {
    unowned let store: ParameterStore
    let offset: Int
    let count: Int

    /// The tensor's values in the store, as `store.values` holds them all. Writing through it outside an optimizer
    /// step or a model load needs `store.markValuesChanged()`.
    var values: UnsafeMutablePointer<Float> { store.values + offset }
    var gradient: UnsafeMutablePointer<Float> { store.gradients + offset }
    /// A copy of the values.
    var array: [Float] { Array(store.valueBuffer[offset ..< offset + count]) }
}
