// IncreLoRA: incremental rank allocation. Each module starts at a small rank in AdaLoRA's SVD-like
// form ΔW = s · B·diag(E)·A (orthogonality penalty as AdaLoRA), and the total rank grows: every
// deltaT steps the modules are ranked by their summed, EMA-smoothed sensitivity |θ·∂L/∂θ|, and the
// `top_h` most important ones get one more rank-1 component, until the budget target_r · n is used.
// A new component has E = 0, so the function does not jump; A and B rows start small and random.
// The scale s = α / init_r stays fixed as ranks grow (so growth never rescales earlier components).
// Growing replaces the values of the same `Parameter` objects with larger tensors: optimizers must
// resize their state for those parameters (Scion's trainer does; a hand loop must rebuild its optimizer).
// Paper: Zhang et al. 2023, "IncreLoRA: Incremental Parameter Allocation Method for Parameter-Efficient
// Fine-tuning" (arXiv:2308.12043). The allocator's state (EMAs, its generator, the ranks grown so far)
// travels in training checkpoints (`checkpointState`); restoring it resizes the layers to the saved
// ranks before the weights are loaded. Not in PEFT: `peft_type` "INCRELORA", AdaLoRA's layout and keys
// (`lora_A`, `lora_B`, `lora_E`), ranks read back from the tensor shapes.

import Foundation
import ScionNN
import ScionTensor

/// IncreLoRA: ranks that grow where importance is highest.
public enum IncreLoRA: AdapterMethod {
    public static let name = "increlora"
    public static let peftType = "INCRELORA"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        Config(initR: Swift.max(1, r / 2), targetR: r, targetModules: targetModules)
    }

    public struct Config: CommonFieldsConfig, Equatable {
        public var common: PEFTCommonConfig
        public var initR: Int
        /// Average rank per module when the budget is used up (budget = target_r · modules).
        public var targetR: Int
        public var loraAlpha: Double = 8
        public var deltaT = 10
        public var topH = 2
        public var beta1 = 0.85
        public var beta2 = 0.85
        public var orthRegWeight = 0.1

        enum CodingKeys: String, CodingKey {
            case initR = "init_r", targetR = "target_r", loraAlpha = "lora_alpha", deltaT, topH = "top_h", beta1, beta2
            case orthRegWeight = "orth_reg_weight"
        }

        public init(initR: Int, targetR: Int, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: IncreLoRA.peftType, targetModules: targetModules)
            self.initR = initR; self.targetR = targetR
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            initR = try c.decodeIfPresent(Int.self, forKey: .initR) ?? 2
            targetR = try c.decodeIfPresent(Int.self, forKey: .targetR) ?? 8
            loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
            deltaT = try c.decodeIfPresent(Int.self, forKey: .deltaT) ?? 10
            topH = try c.decodeIfPresent(Int.self, forKey: .topH) ?? 2
            beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.85
            beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.85
            orthRegWeight = try c.decodeIfPresent(Double.self, forKey: .orthRegWeight) ?? 0.1
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(initR, forKey: .initR); try c.encode(targetR, forKey: .targetR)
            try c.encode(loraAlpha, forKey: .loraAlpha); try c.encode(deltaT, forKey: .deltaT)
            try c.encode(topH, forKey: .topH); try c.encode(beta1, forKey: .beta1); try c.encode(beta2, forKey: .beta2)
            try c.encode(orthRegWeight, forKey: .orthRegWeight)
        }

        public func validate() throws {
            func fail(_ rule: String) -> AdapterError { .invalidConfig(method: "IncreLoRA", rule: rule) }
            guard initR > 0 else { throw fail("init_r must be a positive integer (got \(initR))") }
            guard targetR >= initR else { throw fail("target_r must be at least init_r (got \(targetR), init_r \(initR))") }
            guard deltaT > 0, topH > 0 else { throw fail("deltaT and top_h must be positive") }
        }

        public var parameterNames: [String] { ["lora_A", "lora_B", "lora_E"] }
        public var rankTensorName: String? { "lora_A" }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            return Layer(config: self, rank: rank ?? initR, base: base, initialize: initialize, generator: &generator)
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            initR * (base.inFeatures + base.outFeatures + 1)
        }
    }

    public final class Layer: ConfiguredAdapter {
        public let loraA: Parameter, loraB: Parameter, loraE: Parameter
        public let increConfig: Config
        public var config: any AdapterConfig { increConfig }
        /// The current rank.
        public var rank: Int { loraE.shape[0] }

        init(config: Config, rank r: Int, base: Linear, initialize: Bool, generator: inout RandomGenerator) {
            increConfig = config
            loraA = Parameter(initialize ? Tensor.normal([r, base.inFeatures], std: 0.02, generator: &generator) : .zeros([r, base.inFeatures]))
            loraB = Parameter(initialize ? Tensor.normal([base.outFeatures, r], std: 0.02, generator: &generator) : .zeros([base.outFeatures, r]))
            loraE = Parameter(Tensor.zeros([r, 1]))
        }

        public var entries: [ModuleEntry] {
            [.parameter("lora_A", loraA), .parameter("lora_B", loraB), .parameter("lora_E", loraE)]
        }

        var scale: Double { increConfig.loraAlpha / Double(increConfig.initR) }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            y + x.matmul((loraA.value * loraE.value).matrixTransposed).matmul(loraB.value.matrixTransposed) * scale
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            base.inLayout(loraB.value.matmul(loraA.value * loraE.value).detached() * scale)
        }

        /// Appends `k` rank-1 components with E = 0 (the output is unchanged).
        public func grow(by k: Int, generator: inout RandomGenerator) {
            let (inF, outF) = (loraA.shape[1], loraB.shape[0])
            loraA.value = Tensor.concat([loraA.value.detached(), Tensor.normal([k, inF], std: 0.02, generator: &generator)], axis: 0)
            loraB.value = Tensor.concat([loraB.value.detached(), Tensor.normal([outF, k], std: 0.02, generator: &generator)], axis: 1)
            loraE.value = Tensor.concat([loraE.value.detached(), Tensor.zeros([k, 1])], axis: 0)
        }
    }

    /// Grows ranks on schedule from module importance.
    public final class RankAllocator {
        public let config: Config
        let layers: [(String, Layer)]
        var importance: [String: Double] = [:]
        var uncertainty: [String: Double] = [:]
        var generator: RandomGenerator
        /// Total rank allowed: target_r × modules.
        public var budget: Int { config.targetR * layers.count }

        public init(model: any Module, seed: UInt64 = 0) throws {
            layers = Injection.linearLayers(of: model).compactMap { k, l in (l.activeAdapter as? Layer).map { (k, $0) } }
            guard let c = layers.first?.1.increConfig else {
                throw AdapterError.invalidConfig(method: "IncreLoRA", rule: "the model has no active IncreLoRA adapter")
            }
            config = c
            generator = RandomGenerator(seed: seed)
        }

        /// Current rank per module.
        public var ranks: [String: Int] { Dictionary(uniqueKeysWithValues: layers.map { ($0.0, $0.1.rank) }) }

        /// Updates the smoothed importance from this step's gradients; on schedule, grows ranks.
        /// Returns the modules grown.
        @discardableResult
        public func step(_ step: Int, gradients: Gradients) -> [String] {
            var scores: [String: Double] = [:]
            for (k, l) in layers {
                var s = 0.0
                for p in [l.loraA, l.loraB, l.loraE] {
                    if let g = gradients[p.value] { s += (p.value.detached() * g.detached()).abs().sum().item() }
                }
                scores[k] = s
            }
            return self.step(step, importance: scores)
        }

        /// As ``step(_:gradients:)`` with the step's raw importance per module given directly.
        @discardableResult
        public func step(_ step: Int, importance raw: [String: Double]) -> [String] {
            for (k, s) in raw {
                let i = config.beta1 * (importance[k] ?? s) + (1 - config.beta1) * s
                uncertainty[k] = config.beta2 * (uncertainty[k] ?? 0) + (1 - config.beta2) * Swift.abs(s - i)
                importance[k] = i
            }
            guard step > 0, step % config.deltaT == 0 else { return [] }
            var room = budget - layers.reduce(0) { $0 + $1.1.rank }
            guard room > 0 else { return [] }
            let ranked = layers.sorted { (importance[$0.0] ?? 0) > (importance[$1.0] ?? 0) }
            var grown: [String] = []
            for (k, l) in ranked.prefix(config.topH) where room > 0 {
                l.grow(by: 1, generator: &generator); room -= 1; grown.append(k)
            }
            return grown
        }
    }
}

extension IncreLoRA.RankAllocator {
    /// The saved form of the allocator: doubles as bit patterns (exact), ranks per module, the generator.
    struct SavedState: Codable {
        var importance: [String: UInt64]
        var uncertainty: [String: UInt64]
        var ranks: [String: Int]
        var generator: RandomGenerator
    }

    /// The importance and uncertainty EMAs, the ranks and the growth generator, for a training checkpoint.
    public func checkpointState() throws -> Data {
        let encoder = JSONEncoder(); encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(SavedState(importance: importance.mapValues(\.bitPattern), uncertainty: uncertainty.mapValues(\.bitPattern),
                                            ranks: ranks, generator: generator))
    }

    /// Restores what ``checkpointState()`` saved and resizes every layer to its saved rank (values
    /// zero until the checkpoint's weights are loaded).
    ///
    /// - Throws: ``AdapterError/invalidConfig(method:rule:)`` naming a module the state does not fit.
    public func restoreCheckpointState(_ data: Data) throws {
        let s = try JSONDecoder().decode(SavedState.self, from: data)
        let byKey = Dictionary(uniqueKeysWithValues: layers)
        for (k, r) in s.ranks {
            guard let l = byKey[k], r >= 1 else {
                throw AdapterError.invalidConfig(method: "IncreLoRA", rule: "saved allocator state names \(k) (rank \(r)), which this model's adapter lacks")
            }
            if l.rank != r {
                let (inF, outF) = (l.loraA.shape[1], l.loraB.shape[0])
                l.loraA.value = Tensor.zeros([r, inF]); l.loraB.value = Tensor.zeros([outF, r]); l.loraE.value = Tensor.zeros([r, 1])
            }
        }
        importance = s.importance.mapValues(Double.init(bitPattern:))
        uncertainty = s.uncertainty.mapValues(Double.init(bitPattern:))
        generator = s.generator
    }
}
