import Foundation

/// How to train; every field has the default `denoise train` uses.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var epochs = 100
    /// Utterances per batch.
    public var batchSize = 8
    public var optimizer = "adamw"
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-2
    public var l1: Float = 0
    /// "none", "step:S:G", "multistep:A,B:G", "exp:G", "cosine[:WARMUP]"; see `effectiveSchedule`.
    public var schedule = TrainingOptions.defaultSchedule
    /// Three epochs of warm-up, then cosine annealing to zero.
    public static let defaultSchedule = "cosine:3"

    /// The schedule a run follows: `schedule`, except that the default's warm-up does not fit runs of 3 epochs
    /// or fewer, which anneal without one.
    public var effectiveSchedule: String {
        schedule == Self.defaultSchedule && epochs <= 3 ? "cosine" : schedule
    }
    /// Largest gradient L2 norm; nil for no clipping.
    public var clipGradient: Float?
    /// Stop after this many epochs without a better validation loss; nil to run all epochs.
    public var earlyStopPatience: Int?
    /// An epoch counts as better only if it lowers the validation loss by more than this.
    public var earlyStopMinDelta: Float = 0
    public var seed: UInt64 = 1
    /// Long utterances are cut into random crops of this length each epoch.
    public var cropSeconds: Double = 4
    /// Share of training examples remixed by augmentation (when it has material); 1 with --remix-only.
    public var remixProbability: Float = 0.5
    /// Share of the complex (phase-aware) distance in the spectral loss; 0 compares magnitudes only.
    public var phaseWeight: Float = 0
    /// Weight of the intelligibility term (`Loss.envelopeCorrelation`, STOI's band envelopes) added to the
    /// spectral loss; 0 for none. Trained from scratch on held-out speakers, 0.3 beat 0.1 (and 0.1 beat none) on
    /// PESQ, STOI and SI-SDR with two seeds.
    public var stoiWeight: Float = 0.3
    /// Weight of the waveform term (`Loss.waveformSISDR`: minus the mean SI-SDR in dB of the utterances the mask
    /// makes, through the inverse STFT) added to the loss; 0 for none. Its scale is dB: at 0.01 a 1 dB gain lowers
    /// the loss by 0.01 (the spectral loss itself is 0.01–0.03).
    public var sisdrWeight: Float = 0
    /// Decay of an exponential moving average of the weights, updated after every step; validation and the saved
    /// model use the average (nil: the weights as trained).
    public var averageDecay: Float?
    /// Weight of the speech head's binary cross-entropy (against `SpeechActivity`) added to the loss; 0 trains no
    /// head. At 0.1 the term (ln 2 ≈ 0.69 per frame at chance, about 0.2 once the head has learned) is as large as
    /// the spectral loss (0.01–0.03) while the head learns and smaller after, so the shared layers serve the mask
    /// first. Used only when the model has the head.
    public var vadWeight: Float = 0.1
    /// Train the speech head alone, on the last hidden layer as the rest of the network computes it without dropout
    /// (as `apply` does): every other weight, so the mask and the audio, stays as it is. The loss is then the
    /// head's cross-entropy alone. Gives a model trained without the head a speech probability without changing
    /// its audio.
    public var speechHeadOnly = false
    /// Weight of the distillation term: the mean squared difference between the mask and a teacher model's mask
    /// for the same batch (`Trainer`'s `teacher`), added to the loss in training steps only, so that validation
    /// losses stay comparable with runs without a teacher. 0 for none.
    public var teacherWeight: Float = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case epochs, batchSize, optimizer, learningRate, weightDecay, l1, schedule, clipGradient, earlyStopPatience
        case earlyStopMinDelta, seed, cropSeconds, remixProbability, phaseWeight, stoiWeight, averageDecay, vadWeight
        case speechHeadOnly, teacherWeight, sisdrWeight
    }

    /// Options saved before `vadWeight` existed read with no speech term, as they were trained; before
    /// `speechHeadOnly`, as training the whole network; before `teacherWeight`, without a teacher; before
    /// `sisdrWeight`, without the waveform term.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        optimizer = try c.decode(String.self, forKey: .optimizer)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        l1 = try c.decode(Float.self, forKey: .l1)
        schedule = try c.decode(String.self, forKey: .schedule)
        clipGradient = try c.decodeIfPresent(Float.self, forKey: .clipGradient)
        earlyStopPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStopPatience)
        earlyStopMinDelta = try c.decode(Float.self, forKey: .earlyStopMinDelta)
        seed = try c.decode(UInt64.self, forKey: .seed)
        cropSeconds = try c.decode(Double.self, forKey: .cropSeconds)
        remixProbability = try c.decode(Float.self, forKey: .remixProbability)
        phaseWeight = try c.decode(Float.self, forKey: .phaseWeight)
        stoiWeight = try c.decode(Float.self, forKey: .stoiWeight)
        averageDecay = try c.decodeIfPresent(Float.self, forKey: .averageDecay)
        vadWeight = try c.decodeIfPresent(Float.self, forKey: .vadWeight) ?? 0
        speechHeadOnly = try c.decodeIfPresent(Bool.self, forKey: .speechHeadOnly) ?? false
        teacherWeight = try c.decodeIfPresent(Float.self, forKey: .teacherWeight) ?? 0
        sisdrWeight = try c.decodeIfPresent(Float.self, forKey: .sisdrWeight) ?? 0
    }
}

/// One line of the training history.
