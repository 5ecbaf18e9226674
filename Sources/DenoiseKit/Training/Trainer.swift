import Foundation

public final class Trainer {
    public let model: DenoiseModel
    public let options: TrainingOptions
    /// Read a batch at a time (from disk with `PairFiles`), so memory holds only the batches in flight.
    public let trainingPairs: any PairSource
    public let validationPairs: any PairSource
    public let augmentation: Augmentation?
    /// A trained model whose masks the training steps also pull towards (`TrainingOptions.teacherWeight`): for
    /// example the default, non-causal model teaching a causal one, which cannot see the later frames the teacher
    /// uses. Its weights are only read.
    public let teacher: DenoiseModel?
    let optimizer: Optimizer
    /// Threads a step may use: OpenBLAS's products and the layers' and optimizer's passes (`Parallelism`).
    public let threads: Int
    public let schedule: LearningRateSchedule
    private(set) var earlyStopping: EarlyStopping?
    /// Epochs completed so far.
    public private(set) var epoch = 0
    public private(set) var history: [EpochReport] = []
    /// Drives batching and augmentation; one draw per epoch seeds that epoch.
    public private(set) var rng: RandomGenerator

    private let stft: STFT
    /// STOI's one-third-octave bands on the model's bin grid, and its 384 ms segment in STFT frames.
    private let envelopeBands: [Range<Int>]
    private let envelopeSegmentFrames: Int
    private let gradient = Matrix(rows: 0, cols: 0)
    private let speechGradient = Matrix(rows: 0, cols: 0)
    private let teacherGradient = Matrix(rows: 0, cols: 0)
    /// The moving average of the weights (with `averageDecay`), one value per scalar parameter.
    private var average: [Float]?
    /// With `speechHeadOnly` the audio cannot change, so the validation set is enhanced and scored once: its SI-SDR
    /// gain, kept for every later validation.
    private var headOnlySISDRGain: Float?
    /// Batches prepared ahead of the one in use: enough to hide a slow read, few enough to keep memory flat.
    private static let batchesReadAhead = 2

    /// `threads` defaults to what OpenBLAS would use on its own (the cores, or OPENBLAS_NUM_THREADS).
    public init(model: DenoiseModel, train: any PairSource, validation: any PairSource, options: TrainingOptions,
                augmentation: Augmentation? = nil, teacher: DenoiseModel? = nil,
                threads: Int = BLAS.defaultThreads) throws {
        guard threads >= 1 else { throw TrainingError.badOption("the thread count must be at least 1, not \(threads)") }
        guard options.epochs >= 1 else {
            throw TrainingError.badOption("the number of epochs must be at least 1, not \(options.epochs)")
        }
        guard options.batchSize >= 1 else {
            throw TrainingError.badOption("the batch size must be at least 1, not \(options.batchSize)")
        }
        guard options.learningRate > 0 && options.learningRate.isFinite else {
            throw TrainingError.badOption("the learning rate must be a positive number, not \(options.learningRate)")
        }
        guard options.cropSeconds > 0 else {
            throw TrainingError.badOption("the crop length must be positive, not \(options.cropSeconds) s")
        }
        guard (0...1).contains(options.phaseWeight) else {
            throw TrainingError.badOption("the phase weight must lie in [0, 1], not \(options.phaseWeight)")
        }
        guard options.stoiWeight >= 0 && options.stoiWeight.isFinite else {
            throw TrainingError.badOption("the intelligibility weight must be a number ≥ 0, not \(options.stoiWeight)")
        }
        guard options.sisdrWeight >= 0 && options.sisdrWeight.isFinite else {
            throw TrainingError.badOption("the SI-SDR weight must be a number ≥ 0, not \(options.sisdrWeight)")
        }
        guard options.vadWeight >= 0 && options.vadWeight.isFinite else {
            throw TrainingError.badOption("the speech-head weight must be a number ≥ 0, not \(options.vadWeight)")
        }
        guard options.teacherWeight >= 0 && options.teacherWeight.isFinite else {
            throw TrainingError.badOption("the teacher weight must be a number ≥ 0, not \(options.teacherWeight)")
        }
        if options.teacherWeight > 0 && teacher == nil {
            throw TrainingError.badOption("a teacher weight above 0 needs a teacher model")
        }
        if let teacher {
            // A model's bins are its STFT's (checked when it is made), so rate and STFT settle the frames.
            guard teacher.sampleRate == model.sampleRate, teacher.stft == model.stft else {
                throw TrainingError.badOption("the teacher (\(teacher.sampleRate) Hz, n_fft \(teacher.stft.nFFT), hop "
                    + "\(teacher.stft.hop)) must mask the same frames as the model (\(model.sampleRate) Hz, n_fft "
                    + "\(model.stft.nFFT), hop \(model.stft.hop))")
            }
            guard teacher !== model else { throw TrainingError.badOption("the teacher must be another model") }
        }
        if options.speechHeadOnly {
            guard model.hasSpeechHead, options.vadWeight > 0 else {
                throw TrainingError.badOption("training the speech head alone needs a model with the head and a "
                                              + "speech-head weight above 0")
            }
        }
        if let decay = options.averageDecay, !(0..<1).contains(decay) {
            throw TrainingError.badOption("the weight-average decay must lie in [0, 1), not \(decay)")
        }
        guard let kind = OptimizerKind(rawValue: options.optimizer) else {
            let known = OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw TrainingError.badOption("unknown optimizer '\(options.optimizer)' (known: \(known))")
        }
        self.model = model
        self.options = options
        self.threads = threads
        self.trainingPairs = train
        self.validationPairs = validation
        self.augmentation = augmentation
        self.teacher = teacher
        let regularization = Regularization(weightDecay: options.weightDecay, l1: options.l1)
        self.optimizer = kind.make(learningRate: options.learningRate, regularization: regularization, momentum: 0.9)
        self.schedule = try Schedules.parse(options.effectiveSchedule, totalEpochs: options.epochs)
        self.earlyStopping = options.earlyStopPatience.map {
            EarlyStopping(patience: $0, minDelta: options.earlyStopMinDelta, mode: .minimize)
        }
        self.rng = RandomGenerator(seed: options.seed)
        self.stft = STFT(config: model.stft)
        self.envelopeBands = STOI.bandEdges(sampleRate: model.sampleRate, fftSize: model.stft.nFFT)
        self.envelopeSegmentFrames = max(2, Int((STOIConstants.segmentDuration * Double(model.sampleRate)
                                                  / Double(model.stft.hop)).rounded()))
        if options.averageDecay != nil { average = Array(model.net.store.valueBuffer) }
        // Every trainer sets what it trains, so a model trained with the head alone trains whole under the next.
        model.net.store.freeze { options.speechHeadOnly && !$0.name.hasPrefix(MaskNet.speechHeadPrefix) }
    }

    public var isFinished: Bool { epoch >= options.epochs || earlyStopping?.shouldStop == true }

    public var bestEpoch: Int? {
        earlyStopping?.bestEpoch ?? history.min { $0.validationLoss < $1.validationLoss }?.epoch
    }

    /// Trains one epoch, then validates. `progress(frames done, frames total)` is called after each
    /// batch; when `shouldStop()` turns true the epoch ends early and nil is returned (the state is
    /// then that of the last full epoch, except for the weights, so callers checkpoint only full epochs).
    public func runEpoch(progress: (Int, Int) -> Void = { _, _ in },
                         shouldStop: () -> Bool = { false }) throws -> EpochReport? {
        let started = Date()
        let lr = schedule.learningRate(epoch: epoch, base: options.learningRate)
        optimizer.learningRate = lr
        var epochRNG = RandomGenerator(seed: rng.next())
        let cropSamples = Int(options.cropSeconds * Double(model.sampleRate))
        let plan = BatchPlanner.plan(lengths: trainingPairs.lengths, batchSize: options.batchSize,
                                     cropSamples: cropSamples, rng: &epochRNG)
        let totalFrames = plan.joined().reduce(0) { $0 + STFT.frameCount(forSamples: $1.length, config: model.stft) }
        let batchSeeds = plan.map { _ in epochRNG.next() }

        // Batches are read and prepared on another core while this one does the math.
        let maker = batchMaker
        let prefetch = BatchPrefetcher(count: plan.count, depth: Self.batchesReadAhead) { index in
            try maker.training(plan[index], seed: batchSeeds[index])
        }
        defer { prefetch.finish() }
        var lossSum = 0.0, frames = 0
        for index in plan.indices {
            let batch = SpectralBatch(try prefetch.take(index))
            if shouldStop() { return nil }
            let loss = try step(on: batch)
            lossSum += Double(loss) * Double(batch.layout.realFrames)
            frames += batch.layout.realFrames
            progress(frames, totalFrames)
        }
        let trainSeconds = Date().timeIntervalSince(started)
        let validation = try withAveragedWeights { try evaluate() }
        let validationLoss = validation.loss
        let report = EpochReport(epoch: epoch, trainLoss: Float(lossSum / Double(max(frames, 1))),
                                 validationLoss: validationLoss, validationSISDRGain: validation.sisdrGain,
                                 learningRate: lr, seconds: Date().timeIntervalSince(started),
                                 framesPerSecond: Double(frames) / max(trainSeconds, 1e-9),
                                 validationSpeechAUC: validation.speechAUC)
        _ = earlyStopping?.update(epoch: epoch, score: validationLoss)
        history.append(report)
        epoch += 1
        return report
    }

    /// A batch of `pairs` (noisy, clean) as training prepares it, without cropping or remixing: with the phase
    /// term and speech labels the options need. `bench` times `step(on:)` on one.
    public func batch(of pairs: [(noisy: [Float], clean: [Float])]) -> SpectralBatch {
        let batch = SpectralBatch(batchMaker.spectra(of: pairs))
        batch.layout.parallelism = parallelism
        return batch
    }

    /// What making batches needs, without the trainer's mutable state, for the prefetcher's queue.
    private var batchMaker: BatchMaker {
        BatchMaker(trainingPairs: trainingPairs, validationPairs: validationPairs, augmentation: augmentation,
                   remixProbability: options.remixProbability, phase: options.phaseWeight > 0,
                   waveform: options.sisdrWeight > 0, stft: stft)
    }

    /// One optimisation step, the one every training batch takes: forward, the loss with its intelligibility and
    /// speech terms, backward, clipping, the optimizer and the weight average. Retries once with half the learning
    /// rate if the loss is not finite.
    @discardableResult
    public func step(on batch: SpectralBatch) throws -> Float {
        let store = model.net.store
        BLAS.useThreads(threads)
        batch.layout.parallelism = parallelism
        for attempt in 0..<2 {
            store.zeroGradients()
            // Trained alone, the head reads the features `apply` gives it: the rest of the network without dropout.
            let mask = model.net.forward(batch.features, layout: batch.layout, training: !options.speechHeadOnly)
            var loss = objective(mask: mask, batch: batch, gradient: gradient, speechGradient: speechGradient)
            if !options.speechHeadOnly { loss += distillation(mask: mask, batch: batch, gradient: gradient) }
            if loss.isFinite {
                if options.speechHeadOnly {
                    model.net.backwardSpeechHead(speechGradient)
                } else {
                    model.net.backward(gradient, gradSpeechLogits: trainsSpeechHead ? speechGradient : nil)
                }
                if let maxNorm = options.clipGradient { _ = GradientClipping.clipNorm(store, maxNorm: maxNorm) }
                optimizer.step(store, parallelism: parallelism)
                updateAverage()
                return loss
            }
            if attempt == 0 { optimizer.learningRate /= 2 }
        }
        throw TrainingError.diverged(epoch: epoch)
    }

    private var parallelism: Parallelism { Parallelism(threads: threads) }

    /// Whether the speech head is in the loss.
    private var trainsSpeechHead: Bool { model.net.speechHead != nil && options.vadWeight > 0 }

    /// The training loss of `mask` on `batch`: the spectral loss plus the weighted intelligibility and waveform
    /// terms and the weighted speech head's cross-entropy; writes its gradient w.r.t. the mask into `gradient`, and
    /// w.r.t. the speech logits into `speechGradient`. With `speechHeadOnly`, the head's cross-entropy alone
    /// (unweighted).
    private func objective(mask: Matrix, batch: SpectralBatch, gradient: Matrix, speechGradient: Matrix) -> Float {
        if options.speechHeadOnly { return speechLoss(on: batch, weight: 1, gradient: speechGradient) }
        var loss = Loss.spectral(mask: mask, noisyMagnitude: batch.noisyMagnitude, cleanMagnitude: batch.cleanMagnitude,
                                 layout: batch.layout, phaseCosine: batch.phaseCosine,
                                 phaseWeight: options.phaseWeight, gradient: gradient)
        if options.stoiWeight > 0 {
            loss += Loss.envelopeCorrelation(mask: mask, noisyMagnitude: batch.noisyMagnitude,
                                             cleanMagnitude: batch.cleanMagnitude, layout: batch.layout,
                                             bands: envelopeBands, segmentFrames: envelopeSegmentFrames,
                                             weight: options.stoiWeight, gradient: gradient)
        }
        if options.sisdrWeight > 0 {
            loss += Loss.waveformSISDR(mask: mask, noisyReal: batch.noisyReal, noisyImag: batch.noisyImag,
                                       clean: batch.clean, layout: batch.layout, stft: stft,
                                       weight: options.sisdrWeight, gradient: gradient)
        }
        if trainsSpeechHead { loss += speechLoss(on: batch, weight: options.vadWeight, gradient: speechGradient) }
        return loss
    }

    /// The weighted distillation term: `teacherWeight` × the mean squared difference between `mask` and the
    /// teacher's mask for `batch` (its inference forward, without dropout); its gradient w.r.t. the mask is added
    /// to `gradient`. 0 without a teacher.
    private func distillation(mask: Matrix, batch: SpectralBatch, gradient: Matrix) -> Float {
        guard let teacher, options.teacherWeight > 0 else { return 0 }
        let target = teacher.net.forward(batch.features, layout: batch.layout, training: false)
        let loss = Loss.maskedMSE(prediction: mask, target: target, layout: batch.layout, gradient: teacherGradient)
        BLAS.axpy(n: gradient.count, alpha: options.teacherWeight, x: teacherGradient.data, y: gradient.data)
        return options.teacherWeight * loss
    }

    /// The speech head's weighted cross-entropy for the last forward on `batch` (0 when it gave no logits); its
    /// gradient w.r.t. the logits goes into `gradient`.
    private func speechLoss(on batch: SpectralBatch, weight: Float, gradient: Matrix) -> Float {
        guard let logits = model.net.speechLogits else { return 0 }
        return Loss.binaryCrossEntropy(logits: logits, targets: batch.speechLabels, layout: batch.layout,
                                       weight: weight, gradient: gradient)
    }

    /// Mean validation loss per real frame, mean SI-SDR gain (dB) of the enhanced validation set, and the speech
    /// head's ROC AUC over all validation frames (nil without the head). Pairs are read a batch at a time, like
    /// the training pairs.
    func evaluate() throws -> (loss: Float, sisdrGain: Float, speechAUC: Float?) {
        let lengths = validationPairs.lengths
        guard !lengths.isEmpty else { return (.nan, .nan, nil) }
        let order = lengths.indices.sorted { lengths[$0] < lengths[$1] }
        let batches = stride(from: 0, to: order.count, by: options.batchSize).map {
            Array(order[$0 ..< min($0 + options.batchSize, order.count)])
        }
        let maker = batchMaker
        let prefetch = BatchPrefetcher(count: batches.count, depth: Self.batchesReadAhead) { index in
            try maker.validation(batches[index])
        }
        defer { prefetch.finish() }
        var lossSum = 0.0, frames = 0, gainSum = 0.0
        var speechScores: [Float] = [], speechLabels: [Float] = []
        let batchGradient = Matrix(rows: 0, cols: 0), batchSpeechGradient = Matrix(rows: 0, cols: 0)
        for index in batches.indices {
            let input = try prefetch.take(index)
            let batch = SpectralBatch(input.spectra)
            batch.layout.parallelism = parallelism
            let mask = model.net.forward(batch.features, layout: batch.layout, training: false)
            let loss = objective(mask: mask, batch: batch, gradient: batchGradient, speechGradient: batchSpeechGradient)
            if let logits = model.net.speechLogits {
                for row in 0..<batch.layout.rows where batch.layout.isReal(row: row) {
                    speechScores.append(logits[row, 0])  // the AUC depends only on the order: logits will do
                    speechLabels.append(batch.speechLabels[row, 0])
                }
            }
            lossSum += Double(loss) * Double(batch.layout.realFrames)
            frames += batch.layout.realFrames
            // Scored on the path `apply` takes, not on this batch's masks: what validation reports is what users get.
            for (b, clean) in input.clean.enumerated() where headOnlySISDRGain == nil {
                let noisy = AudioBuffer(channels: [input.noisy[b]], sampleRate: model.sampleRate)
                let enhanced = Denoiser.enhance(noisy, model: model, options: DenoiserOptions(threads: threads))
                    .channels[0]
                gainSum += SignalMetrics.siSDR(reference: clean, estimate: enhanced) - input.noisySISDR[b]
            }
        }
        let auc = ROC.areaUnderCurve(scores: speechScores, labels: speechLabels).map(Float.init)
        let gain = headOnlySISDRGain ?? Float(gainSum / Double(lengths.count))
        if options.speechHeadOnly { headOnlySISDRGain = gain }
        return (Float(lossSum / Double(max(frames, 1))), gain, auc)
    }

    // MARK: - Weight average

    /// average ← d·average + (1 − d)·weights.
    private func updateAverage() {
        guard let decay = options.averageDecay, average != nil else { return }
        let w = model.net.store.values, keep = decay, take = 1 - decay
        average!.withUnsafeMutableBufferPointer { a in
            for i in a.indices { a[i] = keep * a[i] + take * w[i] }
        }
    }

    /// Runs `body` with the averaged weights in the model (the trained ones without averaging), then puts the
    /// trained weights back.
    func withAveragedWeights<T>(_ body: () throws -> T) rethrows -> T {
        guard average != nil else { return try body() }
        swapAverage()
        defer { swapAverage() }
        return try body()
    }

    private func swapAverage() {
        let store = model.net.store
        average!.withUnsafeMutableBufferPointer { a in
            for i in a.indices { swap(&a[i], &store.values[i]) }
        }
        store.markValuesChanged()
    }

    // MARK: - Checkpoints

    private static let averageKey = "average.values"

    /// Everything needed to continue: weights, optimizer state, weight average, generators, history, early stopping.
    public func checkpoint() -> SafeTensors {
        var file = model.safeTensors()
        for (key, values) in optimizer.state {
            file.tensors["optimizer." + key] = .init(shape: [values.count], values: values)
        }
        if let average { file.tensors[Self.averageKey] = .init(shape: [average.count], values: average) }
        let state = CheckpointState(
            epoch: epoch, rng: rng.stateWords.map(String.init),
            dropout: model.net.dropouts.map { $0.rng.stateWords.map(String.init) },
            history: history, earlyStopping: earlyStopping.map { DenoiseModel.json($0) }, options: options)
        file.metadata["checkpoint"] = DenoiseModel.json(state)
        return file
    }

    /// Restores what `checkpoint` saved (the model weights are loaded with the model).
    public func restore(from file: SafeTensors, path: String) throws {
        guard let state: CheckpointState = DenoiseModel.decode(file.metadata["checkpoint"]) else {
            throw ModelFileError.malformed(path: path, reason: "not a training checkpoint (no 'checkpoint' metadata)")
        }
        var optimizerState: [String: [Float]] = [:]
        for (name, tensor) in file.tensors where name.hasPrefix("optimizer.") {
            optimizerState[String(name.dropFirst("optimizer.".count))] = tensor.values
        }
        try optimizer.restore(optimizerState)
        // A checkpoint of a run without averaging starts the average from the model's (restored) weights.
        if average != nil {
            let saved = file.tensors[Self.averageKey]?.values ?? Array(model.net.store.valueBuffer)
            guard saved.count == model.net.store.count else {
                throw ModelFileError.malformed(path: path, reason: "the weight average does not match the model's size")
            }
            average = saved
        }
        epoch = state.epoch
        history = state.history
        rng = RandomGenerator(stateWords: state.rng.compactMap(UInt64.init))
        for (layer, words) in zip(model.net.dropouts, state.dropout) {
            layer.rng = RandomGenerator(stateWords: words.compactMap(UInt64.init))
        }
        if earlyStopping != nil, let saved = state.earlyStopping {
            earlyStopping = DenoiseModel.decode(saved)
        }
    }
}
