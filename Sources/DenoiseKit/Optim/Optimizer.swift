/// Penalties on the parameters, applied by the optimizer rather than by the loss.
///
/// - `weightDecay` λ: L2. Coupled (the gradient becomes g + λ·w, as PyTorch's SGD, AdaGrad, RMSProp and
///   Adam) or, for AdamW, decoupled (w ← w·(1 − lr·λ) before the Adam step).
/// - `l1` λ₁: the gradient becomes g + λ₁·sign(w), with sign(0) = 0 (PyTorch-style; no soft threshold, so
///   a weight oscillates around zero within one step instead of sticking to it).
/// - `decayEverything`: false applies both penalties only to parameters whose store entry `decays`
///   (weights), never to biases or normalisation gains and shifts; true applies them to all.
public struct Regularization: Codable, Equatable, Sendable {
    public var weightDecay: Float = 0
    public var l1: Float = 0
    public var decayEverything = false

    public init(weightDecay: Float = 0, l1: Float = 0, decayEverything: Bool = false) {
        precondition(weightDecay >= 0 && weightDecay.isFinite,
                     "weight decay must be finite and ≥ 0, got \(weightDecay)")
        precondition(l1 >= 0 && l1.isFinite, "L1 strength must be finite and ≥ 0, got \(l1)")
        self.weightDecay = weightDecay
        self.l1 = l1
        self.decayEverything = decayEverything
    }

    private enum CodingKeys: String, CodingKey { case weightDecay, l1, decayEverything }

    /// Missing keys take their defaults, so a config file only needs what it changes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? 0
        l1 = try c.decodeIfPresent(Float.self, forKey: .l1) ?? 0
        decayEverything = try c.decodeIfPresent(Bool.self, forKey: .decayEverything) ?? false
    }

    /// Calls `body` once per tensor of `store` the optimizer updates (not the frozen ones) with its flat index
    /// range and the penalties that apply to it (0 where the tensor is exempt). Allocates nothing.
    func forEachTensor(in store: ParameterStore,
                       _ body: (_ range: Range<Int>, _ weightDecay: Float, _ l1: Float) -> Void) {
        for entry in store.entries where !entry.frozen {
            let applies = decayEverything || entry.decays
            body(entry.range, applies ? weightDecay : 0, applies ? l1 : 0)
        }
    }
}

/// sign(x) with sign(0) = 0, as `torch.sign`.
@inline(__always)
func signum(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }

/// Updates the parameters of a `ParameterStore` from its gradients.
///
/// Update rules follow PyTorch's `torch.optim` (non-foreach path) so results can be compared. State
/// buffers are flat `[Float]` of the store's size, created on the first step; they are tied to the
/// layout of the store they first stepped.
protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    var regularization: Regularization { get set }
    /// One update from `store.gradients`. The gradients are read, never changed (nor zeroed). An update may split
    /// large tensors across the threads `parallelism` allows.
    func step(_ store: ParameterStore, parallelism: Parallelism)
    /// Everything needed to continue exactly: the step count under "step" (see `StepCounter`) and the
    /// state buffers (empty before the first step). Hyperparameters are configuration, not state.
    var state: [String: [Float]] { get }
    /// Continues from a `state` saved by an optimizer of the same kind and configuration.
    func restore(_ state: [String: [Float]]) throws
    /// The `OptimizerKind` raw value: "sgd", "adagrad", "rmsprop", "adam", "adamw".
    var name: String { get }
}

extension Optimizer {
    /// One update on the calling thread.
    func step(_ store: ParameterStore) { step(store, parallelism: .serial) }
}

enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case missingState(optimizer: String, key: String)
    case stateSizeMismatch(optimizer: String, key: String, count: Int, expected: Int)
    case invalidStepCount(optimizer: String, values: [Float])

    var description: String {
        switch self {
        case let .missingState(optimizer, key):
            return "\(optimizer) state has no '\(key)' buffer"
        case let .stateSizeMismatch(optimizer, key, count, expected):
            return "\(optimizer) state buffer '\(key)' has \(count) values, expected \(expected)"
        case let .invalidStepCount(optimizer, values):
            return "\(optimizer) state has an invalid step count \(values)"
        }
    }
}

/// The step count stored exactly in Floats: [high, low] with step = high·2²⁴ + low, since a single Float
/// only counts exactly up to 2²⁴.
enum StepCounter {
    static let key = "step"
    private static let base = 1 << 24

    static func encode(_ step: Int) -> [Float] { [Float(step / base), Float(step % base)] }

    static func decode(_ state: [String: [Float]], optimizer: String) throws -> Int {
        guard let v = state[key] else { throw OptimizerError.missingState(optimizer: optimizer, key: key) }
        guard v.count == 2, v.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < Float(base) }) else {
            throw OptimizerError.invalidStepCount(optimizer: optimizer, values: v)
        }
        return Int(v[0]) * base + Int(v[1])
    }

    /// Reads the buffers named `keys` from `state`: all present, and all of one size (0 = not created yet).
    static func buffers(_ keys: [String], from state: [String: [Float]], optimizer: String) throws -> [[Float]] {
        var result: [[Float]] = []
        for key in keys {
            guard let b = state[key] else { throw OptimizerError.missingState(optimizer: optimizer, key: key) }
            if let first = result.first, first.count != b.count {
                throw OptimizerError.stateSizeMismatch(optimizer: optimizer, key: key, count: b.count,
                                                       expected: first.count)
            }
            result.append(b)
        }
        return result
    }
}

/// Makes `buffer` a zero buffer of `count` values if it has not been created yet; a buffer of another
/// size means the state belongs to another model.
func prepareStateBuffer(_ buffer: inout [Float], count: Int, name: String) {
    if buffer.isEmpty {
        buffer = [Float](repeating: 0, count: count)
    } else {
        precondition(buffer.count == count,
                     "optimizer state '\(name)' has \(buffer.count) values but the store has \(count)")
    }
}

/// The optimizers selectable by name (CLI `--optimizer`).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case adamw, adam, sgd, rmsprop, adagrad

    /// An optimizer with PyTorch's defaults for everything not given. `momentum` applies to SGD and
    /// RMSProp only.
    func make(learningRate: Float, regularization: Regularization = .init(), momentum: Float = 0) -> Optimizer {
        switch self {
        case .adamw: return Adam.adamW(learningRate: learningRate, regularization: regularization)
        case .adam: return Adam(learningRate: learningRate, regularization: regularization)
        case .sgd: return SGD(learningRate: learningRate, momentum: momentum, regularization: regularization)
        case .rmsprop: return RMSProp(learningRate: learningRate, momentum: momentum, regularization: regularization)
        case .adagrad: return AdaGrad(learningRate: learningRate, regularization: regularization)
        }
    }
}
