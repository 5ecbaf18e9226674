import XCTest
@testable import DenoiseKit

final class OptimizerTests: XCTestCase {
    /// Steps `optimizer` on loss = w²/2 (gradient w) from w₀ and returns w after each step.
    private func quadraticTrajectory(_ optimizer: Optimizer, steps: Int = 2, w0: Float = 1) -> [Float] {
        let store = ParameterStore()
        let w = store.add("w", shape: [1], decays: true) { _ in w0 }
        var trajectory: [Float] = []
        for _ in 0..<steps {
            w.gradient[0] = w.values[0]
            optimizer.step(store)
            trajectory.append(w.values[0])
        }
        return trajectory
    }

    private func assertTrajectory(_ actual: [Float], _ expected: [Float], accuracy: Float = 1e-6,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual, expected) { XCTAssertEqual(a, e, accuracy: accuracy, file: file, line: line) }
    }

    // MARK: Golden values (PyTorch, loss = w²/2, w₀ = 1, two steps; DESIGN.md)

    func testSGDGoldenValues() {
        // Plain SGD on w²/2: w ← w·(1 − lr).
        assertTrajectory(quadraticTrajectory(SGD(learningRate: 0.01)), [0.99, 0.9801])
    }

    func testMomentumGoldenValues() {
        assertTrajectory(quadraticTrajectory(SGD(learningRate: 0.01, momentum: 0.9)), [0.990000, 0.971100])
        // Dampening scales only the new gradient after the first step: b₂ = 0.9·1 + 0.5·0.99 = 1.395.
        assertTrajectory(quadraticTrajectory(SGD(learningRate: 0.01, momentum: 0.9, dampening: 0.5)),
                         [0.99, 0.99 - 0.01 * 1.395])
    }

    func testNesterovMatchesHandComputation() {
        // lr 0.1, μ 0.9. Step 1: b = 1, u = 1 + 0.9·1 = 1.9, w = 1 − 0.19 = 0.81.
        // Step 2: g = 0.81, b = 0.9·1 + 0.81 = 1.71, u = 0.81 + 0.9·1.71 = 2.349, w = 0.81 − 0.2349 = 0.5751.
        let trajectory = quadraticTrajectory(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true))
        assertTrajectory(trajectory, [0.81, 0.5751])
        // Classic momentum on the same problem takes a different path (0.9, 0.72).
        assertTrajectory(quadraticTrajectory(SGD(learningRate: 0.1, momentum: 0.9)), [0.9, 0.72])
    }

    func testAdaGradGoldenValues() {
        assertTrajectory(quadraticTrajectory(AdaGrad(learningRate: 0.01)), [0.990000, 0.982965])
    }

    func testRMSPropGoldenValues() {
        assertTrajectory(quadraticTrajectory(RMSProp(learningRate: 0.01, alpha: 0.9)), [0.968377, 0.945788])
    }

    func testAdamGoldenValues() {
        assertTrajectory(quadraticTrajectory(Adam(learningRate: 0.01, beta1: 0.9, beta2: 0.99)), [0.990000, 0.980003])
    }

    // MARK: Regularisation

    func testAdamWDiffersFromAdamWithL2() {
        // Two weights with gradients 10⁶ apart in scale: loss = (1000·w₀² + 0.001·w₁²)/2.
        let scales: [Float] = [1000, 0.001]
        let lr: Float = 0.01, lambda: Float = 0.1
        func run(_ optimizer: Optimizer, steps: Int = 10) -> [Float] {
            let store = ParameterStore()
            let w = store.add("w", shape: [2], decays: true) { _ in 1 }
            for _ in 0..<steps {
                for i in 0..<2 { w.gradient[i] = scales[i] * w.values[i] }
                optimizer.step(store)
            }
            return w.array
        }
        let plain = run(Adam(learningRate: lr))
        let coupled = run(Adam(learningRate: lr, regularization: .init(weightDecay: lambda)))
        let decoupled = run(Adam.adamW(learningRate: lr, regularization: .init(weightDecay: lambda)))
        for i in 0..<2 {
            // Adam divides the L2 term by √v like the gradient, so it hardly changes the path at either scale...
            XCTAssertEqual(coupled[i], plain[i], accuracy: 1e-4)
            // ...while AdamW shrinks both weights by lr·λ·w per step on top, whatever the gradient scale
            // (about 10 · 0.001 · 0.95 here).
            XCTAssertGreaterThan(plain[i] - decoupled[i], 5e-3)
            XCTAssertGreaterThan(abs(coupled[i] - decoupled[i]), 5e-3)
        }
        XCTAssertEqual(plain[0] - decoupled[0], plain[1] - decoupled[1], accuracy: 1e-5)

        // With a zero gradient AdamW's whole update is the decay lr·λ·w...
        for w0: Float in [2, -0.5] {
            let store = ParameterStore()
            let w = store.add("w", shape: [1], decays: true) { _ in w0 }
            Adam.adamW(learningRate: 0.1, regularization: .init(weightDecay: 0.5)).step(store)
            XCTAssertEqual(w0 - w.values[0], 0.1 * 0.5 * w0, accuracy: 1e-7 * abs(w0))
        }
        // ...while Adam normalises the L2 gradient λ·w to a step of lr, whatever λ.
        for lambda: Float in [0.5, 0.001] {
            let store = ParameterStore()
            let w = store.add("w", shape: [1], decays: true) { _ in 2 }
            Adam(learningRate: 0.1, regularization: .init(weightDecay: lambda)).step(store)
            XCTAssertEqual(2 - w.values[0], 0.1, accuracy: 1e-5)
        }
    }

    func testWeightDecaySkipsBiases() {
        let initial: [Float] = [0.5, -2]
        for kind in OptimizerKind.allCases {
            for everything in [false, true] {
                let store = ParameterStore()
                let weight = store.add("weight", shape: [2], decays: true) { initial[$0] }
                let bias = store.add("bias", shape: [2], decays: false) { initial[$0] }
                let regularization = Regularization(weightDecay: 0.1, l1: 0.01, decayEverything: everything)
                let optimizer = kind.make(learningRate: 0.01, regularization: regularization, momentum: 0.9)
                // Zero data gradient: anything that moves comes from the penalties.
                for _ in 0..<3 { optimizer.step(store) }
                for i in 0..<2 {
                    XCTAssertLessThan(abs(weight.values[i]), abs(initial[i]), "\(kind) weight \(i)")
                    if everything {
                        XCTAssertLessThan(abs(bias.values[i]), abs(initial[i]), "\(kind) bias \(i), decayEverything")
                    } else {
                        XCTAssertEqual(bias.values[i], initial[i], "\(kind) bias \(i)")
                    }
                }
                XCTAssertEqual(store.gradientBuffer.filter { $0 != 0 }.count, 0, "\(kind) must not write gradients")
            }
        }
    }

    /// A frozen tensor keeps its values under every optimizer, with a gradient and with the penalties on; the
    /// other tensors still move.
    func testFrozenTensorsStayAsTheyAre() {
        let initial: [Float] = [0.5, -2]
        for kind in OptimizerKind.allCases {
            let store = ParameterStore()
            let frozen = store.add("trunk.weight", shape: [2], decays: true) { initial[$0] }
            let trained = store.add("head.weight", shape: [2], decays: true) { initial[$0] }
            store.freeze { $0.name.hasPrefix("trunk.") }
            let regularization = Regularization(weightDecay: 0.1, l1: 0.01)
            let optimizer = kind.make(learningRate: 0.01, regularization: regularization, momentum: 0.9)
            for _ in 0..<3 {
                for i in 0..<2 { frozen.gradient[i] = 1; trained.gradient[i] = 1 }
                optimizer.step(store)
            }
            XCTAssertEqual(frozen.array, initial, "\(kind)")
            for i in 0..<2 { XCTAssertNotEqual(trained.values[i], initial[i], "\(kind) trained \(i)") }
        }
    }

    func testL1DrivesSmallWeightsToZeroFasterThanL2() {
        // SGD, lr 0.1, λ = λ₁ = 0.01, zero data gradient. L1 subtracts lr·λ₁·sign(w) = 0.001 per step whatever
        // |w|, so 0.05 reaches zero in 50 steps; L2 multiplies by (1 − lr·λ) = 0.999 per step.
        let initial: [Float] = [0.05, -0.03]
        let lr: Float = 0.1, strength: Float = 0.01, stepSize = lr * strength
        func run(_ regularization: Regularization, steps: Int) -> [Float] {
            let store = ParameterStore()
            let w = store.add("w", shape: [2], decays: true) { initial[$0] }
            let optimizer = SGD(learningRate: lr, regularization: regularization)
            for _ in 0..<steps { optimizer.step(store) }
            return w.array
        }
        let l1Early = run(.init(l1: strength), steps: 10)
        XCTAssertEqual(l1Early[0], 0.05 - 10 * stepSize, accuracy: 1e-6)
        XCTAssertEqual(l1Early[1], -0.03 + 10 * stepSize, accuracy: 1e-6)

        let steps = 100
        let l1 = run(.init(l1: strength), steps: steps)
        let l2 = run(.init(weightDecay: strength), steps: steps)
        for i in 0..<2 {
            // L1: at zero, or oscillating around it within one step.
            XCTAssertLessThanOrEqual(abs(l1[i]), stepSize + 1e-6)
            // L2: shrunk only proportionally, keeping its sign and ~90 % of its size.
            XCTAssertEqual(l2[i], initial[i] * pow(1 - lr * strength, Float(steps)), accuracy: 1e-6)
            XCTAssertGreaterThan(abs(l2[i]), 0.9 * abs(initial[i]))
            XCTAssertLessThan(abs(l1[i]), abs(l2[i]) / 20)
        }
    }

    // MARK: Clipping and state

    func testClipNormScalesGradientsToMaxNorm() {
        let store = ParameterStore()
        let a = store.add("a", shape: [2], decays: true) { _ in 0 }
        let b = store.add("b", shape: [1], decays: false) { _ in 0 }
        a.gradient[0] = 3; a.gradient[1] = 4; b.gradient[0] = -12  // ‖g‖ = 13

        XCTAssertEqual(GradientClipping.clipNorm(store, maxNorm: 6.5), 13, accuracy: 1e-5)
        let clipped = store.gradientBuffer.map { $0 }
        for (g, expected) in zip(clipped, [Float(1.5), 2, -6]) { XCTAssertEqual(g, expected, accuracy: 1e-5) }

        // Already within the limit: reports the norm and leaves the gradients exactly as they are.
        XCTAssertEqual(GradientClipping.clipNorm(store, maxNorm: 100), 6.5, accuracy: 1e-5)
        XCTAssertEqual(store.gradientBuffer.map { $0 }, clipped)
    }

    func testOptimizerStateRestoresExactly() throws {
        let targets: [Float] = [0.3, -1.2, 2.0, 0.0, 0.7, -0.4, 1.1, 0.25]
        let regularization = Regularization(weightDecay: 0.01, l1: 0.001)
        func makeStore(_ values: [Float]) -> ParameterStore {
            let store = ParameterStore()
            store.add("weight", shape: [5], decays: true) { values[$0] }
            store.add("bias", shape: [3], decays: false) { values[5 + $0] }
            return store
        }
        func run(_ optimizer: Optimizer, _ store: ParameterStore, steps: Int) {
            for _ in 0..<steps {
                // Gradient of Σ (i+1)·(w_i − t_i)²/2, different curvature per parameter.
                for i in 0..<store.count { store.gradients[i] = Float(i + 1) * (store.values[i] - targets[i]) }
                optimizer.step(store)
            }
        }
        let start: [Float] = [1, 0.5, -0.5, 2, -1, 0.1, 0.2, -0.3]
        for kind in OptimizerKind.allCases {
            let make = { kind.make(learningRate: 0.05, regularization: regularization, momentum: 0.9) }
            let original = make()
            let store = makeStore(start)
            run(original, store, steps: 3)
            let savedState = original.state
            let savedValues = store.valueBuffer.map { $0 }
            run(original, store, steps: 2)
            let continued = store.valueBuffer.map { $0 }

            let resumed = make()
            try resumed.restore(savedState)
            XCTAssertEqual(resumed.state, savedState, "\(kind)")
            let resumedStore = makeStore(savedValues)
            run(resumed, resumedStore, steps: 2)
            XCTAssertEqual(resumedStore.valueBuffer.map { $0 }, continued, "\(kind)")

            // Without the state the same two steps go elsewhere, so the comparison above means something.
            let fresh = makeStore(savedValues)
            run(make(), fresh, steps: 2)
            XCTAssertNotEqual(fresh.valueBuffer.map { $0 }, continued, "\(kind)")
        }
    }

    func testRestoreRejectsForeignOrDamagedState() {
        let adamState: [String: [Float]] = ["step": [0, 3], "exp_avg": [1, 2], "exp_avg_sq": [1, 2]]
        XCTAssertNoThrow(try Adam(learningRate: 0.1).restore(adamState))
        XCTAssertThrowsError(try SGD(learningRate: 0.1, momentum: 0.9).restore(adamState)) { error in
            XCTAssertEqual(error as? OptimizerError, .missingState(optimizer: "sgd", key: "momentum"))
        }
        var damaged = adamState
        damaged["exp_avg_sq"] = [1]
        XCTAssertThrowsError(try Adam(learningRate: 0.1).restore(damaged)) { error in
            XCTAssertEqual(error as? OptimizerError,
                           .stateSizeMismatch(optimizer: "adam", key: "exp_avg_sq", count: 1, expected: 2))
        }
        damaged = adamState
        damaged["step"] = [0, 2.5]
        XCTAssertThrowsError(try Adam(learningRate: 0.1).restore(damaged)) { error in
            XCTAssertEqual(error as? OptimizerError, .invalidStepCount(optimizer: "adam", values: [0, 2.5]))
            XCTAssertTrue("\(error)".contains("step"))
        }
    }

    func testOptimizerKindMakesTheNamedOptimizer() {
        for kind in OptimizerKind.allCases {
            let optimizer = kind.make(learningRate: 0.02, regularization: .init(weightDecay: 0.1))
            XCTAssertEqual(optimizer.name, kind.rawValue)
            XCTAssertEqual(optimizer.learningRate, 0.02)
            XCTAssertEqual(optimizer.regularization.weightDecay, 0.1)
        }
        XCTAssertTrue((OptimizerKind.adamw.make(learningRate: 1) as? Adam)?.decoupled ?? false)
        XCTAssertFalse((OptimizerKind.adam.make(learningRate: 1) as? Adam)?.decoupled ?? true)
        XCTAssertEqual((OptimizerKind.sgd.make(learningRate: 1, momentum: 0.8) as? SGD)?.momentum, 0.8)
    }

    func testRegularizationDecodesMissingKeysAsDefaults() throws {
        let decoded = try JSONDecoder().decode(Regularization.self, from: Data(#"{"l1": 0.5}"#.utf8))
        XCTAssertEqual(decoded, Regularization(l1: 0.5))
        let full = Regularization(weightDecay: 0.1, l1: 0.2, decayEverything: true)
        XCTAssertEqual(try JSONDecoder().decode(Regularization.self, from: JSONEncoder().encode(full)), full)
    }
}
