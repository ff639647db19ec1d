// AdaLoRA: adaptive budget allocation. Each adapted layer holds an SVD-form update
//     ΔW = α / (r + 10⁻⁵) · B·diag(E)·A,   A [r, in], B [out, r], E [r, 1]   (E = 0 at start)
// trained with an orthogonality regulariser ‖AAᵀ − I‖_F + ‖BᵀB − I‖_F that keeps A and B near
// singular-vector form. Triplets (Aᵢ, Eᵢ, Bᵢ) are scored by sensitivity |θ·∂L/∂θ| smoothed with an
// EMA (β₁) times its uncertainty (β₂); the total rank budget falls from init_r·n to target_r·n on a
// cubic schedule between tinit and total_step − tfinal, and every deltaT steps the lowest-scoring
// E entries are set to zero. `RankAllocator` runs that schedule; the trainer calls `step` after
// each backward pass; `AdapterTraining.hooks(for:)` finds it, so a trainer needs no per-method wiring.
// The allocator's EMAs are its only state besides the weights (the budget is a function of the step):
// `checkpointState` / `restoreCheckpointState` carry them across a resume, bit for bit.
// Paper: Zhang et al. 2023, "Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning"
// (arXiv:2303.10512). PEFT reference: src/peft/tuners/adalora/{config,layer,model}.py.
// Saved keys are `lora_A`, `lora_B`, `lora_E` (PEFT stores them as raw parameters, no `.weight`).

import Foundation
import ScionNN
import ScionTensor

/// AdaLoRA: SVD-form LoRA with importance-driven rank pruning.
public enum AdaLoRA: AdapterMethod {
    public static let name = "adalora"
    public static let peftType = "ADALORA"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        var c = Config(); c.initR = r; c.targetR = Swift.max(1, r / 2); c.targetModules = targetModules
        return c
    }

    /// PEFT's `AdaLoraConfig`: the common fields (``PEFTCommonConfig``), the LoRA fields it uses and the schedule.
    public struct Config: CommonFieldsConfig, Equatable {
        public var common = PEFTCommonConfig(peftType: AdaLoRA.peftType)
        public var r = 8
        public var loraAlpha: Double = 8
        /// Dropout probability on the adapter's input during training (never at inference).
        public var loraDropout: Double = 0
        public var initR = 12
        public var targetR = 8
        public var tinit = 0
        public var tfinal = 0
        public var deltaT = 1
        public var beta1 = 0.85
        public var beta2 = 0.85
        public var orthRegWeight = 0.5
        public var totalStep: Int? = 1000

        // NOTE: explicit keys: PEFT writes snake_case except `deltaT`.
        enum CodingKeys: String, CodingKey {
            case r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
            case initR = "init_r", targetR = "target_r", tinit, tfinal, deltaT, beta1, beta2
            case orthRegWeight = "orth_reg_weight", totalStep = "total_step"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder, defaultPeftType: AdaLoRA.peftType)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
            loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
            loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? 0
            initR = try c.decodeIfPresent(Int.self, forKey: .initR) ?? 12
            targetR = try c.decodeIfPresent(Int.self, forKey: .targetR) ?? 8
            tinit = try c.decodeIfPresent(Int.self, forKey: .tinit) ?? 0
            tfinal = try c.decodeIfPresent(Int.self, forKey: .tfinal) ?? 0
            deltaT = try c.decodeIfPresent(Int.self, forKey: .deltaT) ?? 1
            beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.85
            beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.85
            orthRegWeight = try c.decodeIfPresent(Double.self, forKey: .orthRegWeight) ?? 0.5
            totalStep = try c.decodeIfPresent(Int.self, forKey: .totalStep)
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(r, forKey: .r); try c.encode(loraAlpha, forKey: .loraAlpha); try c.encode(loraDropout, forKey: .loraDropout)
            try c.encode(initR, forKey: .initR); try c.encode(targetR, forKey: .targetR)
            try c.encode(tinit, forKey: .tinit); try c.encode(tfinal, forKey: .tfinal); try c.encode(deltaT, forKey: .deltaT)
            try c.encode(beta1, forKey: .beta1); try c.encode(beta2, forKey: .beta2)
            try c.encode(orthRegWeight, forKey: .orthRegWeight); try c.encodeIfPresent(totalStep, forKey: .totalStep)
        }

        public func validate() throws {
            func fail(_ rule: String) -> AdapterError { .invalidConfig(method: "AdaLoRA", rule: rule) }
            guard initR > 0 else { throw fail("init_r must be a positive integer (got \(initR))") }
            guard targetR > 0 && targetR <= initR else { throw fail("target_r must be in 1...init_r (got \(targetR), init_r \(initR))") }
            guard let total = totalStep, total > 0 else { throw fail("total_step must be a positive integer") }
            guard tinit >= 0, tfinal >= 0, tinit < total - tfinal else {
                throw fail("tinit < total_step − tfinal must hold (tinit \(tinit), tfinal \(tfinal), total_step \(total))")
            }
            guard deltaT > 0 else { throw fail("deltaT must be positive (got \(deltaT))") }
        }

        public var parameterNames: [String] { ["lora_A", "lora_B", "lora_E"] }

        public var rankTensorName: String? { "lora_A" }

        public func check(base: Linear, key: String, rank: Int?) throws {
            let r = rank ?? initR
            guard r <= Swift.min(base.inFeatures, base.outFeatures) else {
                throw AdapterError.invalidConfig(method: "AdaLoRA", rule:
                    "\(key): init_r (\(r)) must not exceed min(in_features, out_features) = \(Swift.min(base.inFeatures, base.outFeatures)) (SVD form)")
            }
        }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            try check(base: base, key: key, rank: rank)
            let r = rank ?? initR
            return Layer(config: self, rank: r, key: key, base: base, initialize: initialize, generator: &generator)
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            initR * (base.inFeatures + base.outFeatures + 1)
        }

        /// The total rank budget at `step` (cubic decrease from init to target) and whether to prune now.
        public func budget(step: Int, moduleCount n: Int) -> (budget: Int, prune: Bool) {
            let total = totalStep ?? 1
            let initial = initR * n, target = targetR * n
            if step <= tinit { return (initial, false) }
            if step > total - tfinal { return (target, true) }
            let m = 1 - Double(step - tinit) / Double(total - tfinal - tinit)
            return (Int(Double(initial - target) * m * m * m) + target, step % deltaT == 0)
        }
    }

    /// The AdaLoRA layer: `lora_A` [r, in], `lora_B` [out, r], `lora_E` [r, 1].
    public final class Layer: ConfiguredAdapter, TrainingModeAdapter {
        public let loraA: Parameter, loraB: Parameter, loraE: Parameter
        /// The rank the scale divides by (PEFT's `ranknum`: init_r, not the pruned count).
        public let rankNumber: Double
        public let adaConfig: Config
        public var config: any AdapterConfig { adaConfig }
        /// The adapted module's key (dropout masks derive from it).
        public let key: String
        /// Non-nil during a training step: `lora_dropout` applies.
        public var trainingState: AdapterTrainingState?

        init(config: Config, rank r: Int, key: String, base: Linear, initialize: Bool, generator: inout RandomGenerator) {
            adaConfig = config; rankNumber = Double(r); self.key = key
            loraA = Parameter(initialize ? Tensor.normal([r, base.inFeatures], std: 0.02, generator: &generator) : .zeros([r, base.inFeatures]))
            loraB = Parameter(initialize ? Tensor.normal([base.outFeatures, r], std: 0.02, generator: &generator) : .zeros([base.outFeatures, r]))
            loraE = Parameter(Tensor.zeros([r, 1]))
        }

        public var entries: [ModuleEntry] {
            [.parameter("lora_A", loraA), .parameter("lora_B", loraB), .parameter("lora_E", loraE)]
        }

        var scale: Double { adaConfig.loraAlpha / (rankNumber + 1e-5) }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            let xd = AdapterDropout.apply(x, probability: adaConfig.loraDropout, key: key, state: trainingState)
            return y + xd.matmul((loraA.value * loraE.value).matrixTransposed).matmul(loraB.value.matrixTransposed) * scale
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            base.inLayout(loraB.value.matmul(loraA.value * loraE.value).detached() * scale)
        }

        /// ‖AAᵀ − I‖_F + ‖BᵀB − I‖_F (differentiable).
        public func orthogonalityPenalty() -> Tensor {
            let a = loraA.value, b = loraB.value
            let ia = identityMatrix(a.shape[0]), ib = identityMatrix(b.shape[1])
            let pa = (a.matmul(a.matrixTransposed) - ia).squared().sum().sqrt()
            let pb = (b.matrixTransposed.matmul(b) - ib).squared().sum().sqrt()
            return pa + pb
        }
    }

    /// The orthogonality regulariser over every active AdaLoRA layer of `model`, weighted by
    /// `orth_reg_weight` and averaged over A and B matrices as PEFT does; add it to the loss.
    public static func orthogonalRegularization(_ model: any Module) -> Tensor? {
        let layers = Injection.linearLayers(of: model).compactMap { $0.1.activeAdapter as? Layer }
        guard let first = layers.first else { return nil }
        let sum = layers.dropFirst().reduce(first.orthogonalityPenalty()) { $0 + $1.orthogonalityPenalty() }
        return sum * (first.adaConfig.orthRegWeight / Double(2 * layers.count))
    }

    /// Runs AdaLoRA's budget schedule: sensitivity EMAs, triplet scores and masking of E.
    public final class RankAllocator {
        public let config: Config
        let layers: [(String, Layer)]
        var emaImportance: [ObjectIdentifier: Tensor] = [:]
        var emaUncertainty: [ObjectIdentifier: Tensor] = [:]
        /// The budget after the last `step`.
        public private(set) var currentBudget: Int

        /// An allocator for the active AdaLoRA layers of `model`.
        public init(model: any Module) throws {
            layers = Injection.linearLayers(of: model).compactMap { k, l in (l.activeAdapter as? Layer).map { (k, $0) } }
            guard let c = layers.first?.1.adaConfig else {
                throw AdapterError.invalidConfig(method: "AdaLoRA", rule: "the model has no active AdaLoRA adapter")
            }
            config = c
            currentBudget = c.initR * layers.count
        }

        /// Ranks in use (non-zero E entries) per module.
        public var ranks: [String: Int] {
            Dictionary(uniqueKeysWithValues: layers.map { ($0.0, $0.1.loraE.value.floats().filter { $0 != 0 }.count) })
        }

        /// Updates importance with this step's gradients and, on schedule, prunes E to the budget.
        /// Call after the backward pass and before the optimizer step. Returns the budget.
        @discardableResult
        public func step(_ step: Int, gradients: Gradients) -> Int {
            func score(_ p: Parameter) -> Tensor? {
                guard let g = gradients[p.value] else { return nil }
                let id = ObjectIdentifier(p)
                let ipt = (p.value.detached() * g.detached()).abs()
                let prevI = emaImportance[id] ?? Tensor.zeros(ipt.shape)
                let prevU = emaUncertainty[id] ?? Tensor.zeros(ipt.shape)
                let i = prevI * config.beta1 + ipt * (1 - config.beta1)
                let u = prevU * config.beta2 + (ipt - i).abs() * (1 - config.beta2)
                emaImportance[id] = i; emaUncertainty[id] = u
                return i * u
            }
            var tripletScores: [(Layer, [Float])] = []
            for (_, l) in layers {
                guard let se = score(l.loraE), let sa = score(l.loraA), let sb = score(l.loraB) else { continue }
                let s = se.reshaped([-1]) + sa.mean(axes: [1]) + sb.mean(axes: [0])
                tripletScores.append((l, s.floats()))
            }
            let (budget, prune) = config.budget(step: step, moduleCount: layers.count)
            currentBudget = budget
            // PEFT masks only every deltaT steps; Scion also masks whenever the active rank is above the
            // falling budget, so the scheduled budget is never exceeded (masked E entries still train and
            // may come back at the next step, as in the paper).
            let active = layers.reduce(0) { $0 + $1.1.loraE.value.floats().filter { $0 != 0 }.count }
            guard prune || active > budget, !tripletScores.isEmpty else { return budget }
            let all = tripletScores.flatMap { $0.1 }.sorted()
            let cut = all.count - budget
            guard cut > 0 else { return budget }
            let threshold = all[cut - 1]
            for (l, s) in tripletScores {
                let e = l.loraE.value.floats()
                let masked = zip(e, s).map { $1 <= threshold ? 0 : $0 }
                l.loraE.value = Tensor(masked, shape: l.loraE.shape)
            }
            return budget
        }
    }
}

extension AdaLoRA.RankAllocator {
    /// The saved form of the allocator's EMAs: float bit patterns by "module.parameter" (exact).
    struct SavedState: Codable {
        var importance: [String: [UInt32]]
        var uncertainty: [String: [UInt32]]
        var shapes: [String: [Int]]
        var budget: Int
    }

    func namedParameters() -> [(String, Parameter)] {
        layers.flatMap { k, l in [(k + ".lora_A", l.loraA), (k + ".lora_B", l.loraB), (k + ".lora_E", l.loraE)] }
    }

    /// The importance and uncertainty EMAs and the current budget, for a training checkpoint.
    public func checkpointState() throws -> Data {
        var s = SavedState(importance: [:], uncertainty: [:], shapes: [:], budget: currentBudget)
        for (name, p) in namedParameters() {
            let id = ObjectIdentifier(p)
            if let i = emaImportance[id] { s.importance[name] = i.floats().map(\.bitPattern); s.shapes[name] = i.shape }
            if let u = emaUncertainty[id] { s.uncertainty[name] = u.floats().map(\.bitPattern) }
        }
        let encoder = JSONEncoder(); encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(s)
    }

    /// Restores what ``checkpointState()`` saved (the allocator must cover the same modules).
    ///
    /// - Throws: ``AdapterError/invalidConfig(method:rule:)`` naming a module the state does not fit.
    public func restoreCheckpointState(_ data: Data) throws {
        let s = try JSONDecoder().decode(SavedState.self, from: data)
        let params = Dictionary(uniqueKeysWithValues: namedParameters())
        for name in s.importance.keys where params[name] == nil {
            throw AdapterError.invalidConfig(method: "AdaLoRA", rule: "saved allocator state names \(name), which this model's adapter lacks")
        }
        emaImportance = [:]; emaUncertainty = [:]
        for (name, bits) in s.importance {
            let shape = s.shapes[name] ?? [bits.count]
            emaImportance[ObjectIdentifier(params[name]!)] = Tensor(bits.map(Float.init(bitPattern:)), shape: shape)
            if let u = s.uncertainty[name] {
                emaUncertainty[ObjectIdentifier(params[name]!)] = Tensor(u.map(Float.init(bitPattern:)), shape: shape)
            }
        }
        currentBudget = s.budget
    }
}
