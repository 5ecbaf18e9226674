import Foundation

/// A learning rate per epoch, stepped once per epoch like PyTorch's schedulers (epochs counted from 0,
/// so epoch 0 trains at the schedule's first value). Closed forms, so resuming at any epoch is exact.
public protocol LearningRateSchedule {
    func learningRate(epoch: Int, base: Float) -> Float
}

/// The base rate throughout (spec "none").
struct ConstantLR: LearningRateSchedule, Equatable, Sendable {
    init() {}
    func learningRate(epoch: Int, base: Float) -> Float { base }
}

/// base·γ^⌊epoch / stepSize⌋, as `torch.optim.lr_scheduler.StepLR`.
struct StepLR: LearningRateSchedule, Equatable, Sendable {
    let stepSize: Int
    let gamma: Float

    init(stepSize: Int, gamma: Float) {
        precondition(stepSize > 0, "StepLR step size must be > 0, got \(stepSize)")
        precondition(gamma > 0, "StepLR gamma must be > 0, got \(gamma)")
        self.stepSize = stepSize
        self.gamma = gamma
    }

    func learningRate(epoch: Int, base: Float) -> Float {
        Float(Double(base) * pow(Double(gamma), Double(max(epoch, 0) / stepSize)))
    }
}

/// base·γ^(number of milestones ≤ epoch), as `torch.optim.lr_scheduler.MultiStepLR`.
struct MultiStepLR: LearningRateSchedule, Equatable, Sendable {
    let milestones: [Int]
    let gamma: Float

    /// `milestones`: epochs at which the rate is multiplied by γ, strictly increasing.
    init(milestones: [Int], gamma: Float) {
        precondition(zip(milestones, milestones.dropFirst()).allSatisfy { $0 < $1 },
                     "MultiStepLR milestones must be strictly increasing, got \(milestones)")
        precondition(gamma > 0, "MultiStepLR gamma must be > 0, got \(gamma)")
        self.milestones = milestones
        self.gamma = gamma
    }

    func learningRate(epoch: Int, base: Float) -> Float {
        let passed = milestones.filter { $0 <= epoch }.count
        return Float(Double(base) * pow(Double(gamma), Double(passed)))
    }
}

/// base·γ^epoch, as `torch.optim.lr_scheduler.ExponentialLR`.
struct ExponentialLR: LearningRateSchedule, Equatable, Sendable {
    let gamma: Float

    init(gamma: Float) {
        precondition(gamma > 0, "ExponentialLR gamma must be > 0, got \(gamma)")
        self.gamma = gamma
    }

    func learningRate(epoch: Int, base: Float) -> Float {
        Float(Double(base) * pow(Double(gamma), Double(max(epoch, 0))))
    }
}

/// Linear warm-up, then cosine annealing to `minimum` (an absolute rate, PyTorch's `eta_min`).
///
/// With W warm-up epochs and T = totalEpochs − W:
///
///     epoch e < W:       base·(e + 1)/W           (base/W at epoch 0, base at epoch W − 1)
///     W ≤ e < total:     min + (base − min)·(1 + cos(π·(e − W)/T))/2
///     e ≥ total:         min
///
/// Without warm-up this is `CosineAnnealingLR(T_max: totalEpochs)`: base at epoch 0, and the last
/// epoch (total − 1) still one step above the minimum, which it reaches at epoch `totalEpochs`.
struct CosineAnnealing: LearningRateSchedule, Equatable, Sendable {
    let totalEpochs: Int
    let warmupEpochs: Int
    let minimum: Float

    init(totalEpochs: Int, warmupEpochs: Int = 0, minimum: Float = 0) {
        precondition(totalEpochs > 0, "cosine schedule needs totalEpochs > 0, got \(totalEpochs)")
        precondition(warmupEpochs >= 0 && warmupEpochs < totalEpochs,
                     "cosine warm-up must be in 0..<\(totalEpochs) epochs, got \(warmupEpochs)")
        precondition(minimum >= 0, "cosine minimum rate must be ≥ 0, got \(minimum)")
        self.totalEpochs = totalEpochs
        self.warmupEpochs = warmupEpochs
        self.minimum = minimum
    }

    func learningRate(epoch: Int, base: Float) -> Float {
        let e = max(epoch, 0)
        if e < warmupEpochs { return Float(Double(base) * Double(e + 1) / Double(warmupEpochs)) }
        if e >= totalEpochs { return minimum }
        let progress = Double(e - warmupEpochs) / Double(totalEpochs - warmupEpochs)
        let lo = Double(minimum), hi = Double(base)
        return Float(lo + (hi - lo) * (1 + cos(Double.pi * progress)) / 2)
    }
}

enum ScheduleError: Error, CustomStringConvertible, Equatable {
    case invalidSpec(spec: String, reason: String)

    var description: String {
        switch self {
        case let .invalidSpec(spec, reason):
            return "invalid learning-rate schedule '\(spec)': \(reason) "
                + "(expected step:S:G, multistep:A,B,C:G, exp:G, cosine, cosine:WARMUP or none)"
        }
    }
}

public enum Schedules {
    /// Parses a schedule spec (CLI `--schedule`):
    /// `step:S:G` | `multistep:A,B,C:G` | `exp:G` | `cosine` | `cosine:WARMUP` | `none`.
    /// `totalEpochs` sizes the cosine schedule. Errors name the spec and what is wrong with it.
    public static func parse(_ spec: String, totalEpochs: Int) throws -> LearningRateSchedule {
        let parts = spec.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
            .map { String($0) }
        func fail(_ reason: String) -> ScheduleError { .invalidSpec(spec: spec, reason: reason) }
        func expectFields(_ n: Int, _ form: String) throws {
            guard parts.count == n else { throw fail("'\(parts[0])' takes the form \(form)") }
        }
        func gamma(_ text: String) throws -> Float {
            guard let g = Float(text), g.isFinite, g > 0 else { throw fail("gamma '\(text)' is not a number > 0") }
            return g
        }
        func epochCount(_ text: String, what: String, minimum: Int) throws -> Int {
            guard let n = Int(text), n >= minimum else {
                throw fail("\(what) '\(text)' is not an integer ≥ \(minimum)")
            }
            return n
        }
        switch parts[0].lowercased() {
        case "none", "constant":
            try expectFields(1, "none")
            return ConstantLR()
        case "step":
            try expectFields(3, "step:S:G")
            let stepSize = try epochCount(parts[1], what: "step size", minimum: 1)
            return StepLR(stepSize: stepSize, gamma: try gamma(parts[2]))
        case "multistep":
            try expectFields(3, "multistep:A,B,C:G")
            let milestones = try parts[1].split(separator: ",", omittingEmptySubsequences: false)
                .map { try epochCount(String($0), what: "milestone", minimum: 1) }
            guard zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw fail("milestones must be strictly increasing")
            }
            return MultiStepLR(milestones: milestones, gamma: try gamma(parts[2]))
        case "exp":
            try expectFields(2, "exp:G")
            return ExponentialLR(gamma: try gamma(parts[1]))
        case "cosine":
            guard parts.count <= 2 else { throw fail("'cosine' takes the form cosine or cosine:WARMUP") }
            guard totalEpochs > 0 else { throw fail("cosine needs a number of epochs > 0, got \(totalEpochs)") }
            let warmup = parts.count == 2 ? try epochCount(parts[1], what: "warm-up", minimum: 0) : 0
            guard warmup < totalEpochs else {
                throw fail("warm-up of \(warmup) epochs leaves nothing of \(totalEpochs) epochs to anneal")
            }
            return CosineAnnealing(totalEpochs: totalEpochs, warmupEpochs: warmup)
        default:
            throw fail("unknown schedule '\(parts[0])'")
        }
    }
}
