// The learngene auxiliary model: a causal LM of depth L whose layers are *generated* from a few
// stored layers (the gene), trained end to end so gradients reach the gene.
// - TLEG (Xia et al. 2024, "Transformer as Linear Expansion of Learngene", §3): two parameter sets
//   θ_A, θ_B per layer kind; layer l (1-based) of the L-layer auxiliary model is θ_A + (l/L)·θ_B for
//   every weight, bias and norm of the block.
// - SWS (Xia et al. 2024, "Exploring Learngene via Stage-wise Weight Sharing"): S stages; every
//   layer of stage s is the one shared layer θ_s, stage s spanning d_s consecutive layers.
// Both are one linear scheme: layer l = Σ_j c[l][j]·gene_j, with c = [1, l/L] (TLEG) or the one-hot
// of l's stage (SWS). Embeddings, final norm and head are ordinary parameters, shared as usual.
// Mechanism: the gene is a real G-layer model (its parameters are what train and what is saved);
// the expanded L-layer model's parameters are re-bound before every forward pass to tensors
// computed from the gene (`Parameter.bindDerived`), so autograd routes ∂loss/∂layer_l · c[l][j] into
// gene_j. LearngeneExpansion then instantiates any depth (or profile) from the saved gene.

import Foundation
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

/// An auxiliary model whose L layers are generated from a learngene (TLEG or SWS); trainable by the
/// ordinary ``Trainer`` (its parameters *are* the gene), saved as the gene checkpoint.
///
/// ```swift
/// let aux = try LearngeneModel.random(family: .gpt2, configData: teacherConfig, method: .tleg(depth: 8), seed: 0)
/// let trainer = try Trainer(config: config, model: aux, data: data, objective: DistillationLoss(teacher: teacher))
/// try trainer.run()
/// try aux.save(to: "gene", overwrite: true)      // a 2-layer HF folder + scion_learngene.json
/// let six = try LearngeneExpansion(.tleg(depth: 6)).grow(Checkpoint(folder: "gene"))
/// ```
public final class LearngeneModel: TrainableLanguageModel {
    /// How the gene generates the auxiliary model's layers.
    public enum Method: Sendable, Equatable, Codable, CustomStringConvertible {
        /// TLEG: a 2-layer gene (θ_A, θ_B); layer l of `depth` layers is θ_A + (l/depth)·θ_B.
        case tleg(depth: Int)
        /// SWS: one shared layer per stage; stage s spans `profile[s]` consecutive layers.
        case sws(profile: [Int])

        /// Layers the gene stores: 2 (TLEG) or S (SWS).
        public var geneLayers: Int {
            switch self {
            case .tleg: return 2
            case .sws(let p): return p.count
            }
        }

        /// Layers of the auxiliary model: L (TLEG) or Σ d_s (SWS).
        public var depth: Int {
            switch self {
            case .tleg(let d): return d
            case .sws(let p): return p.reduce(0, +)
            }
        }

        /// c[l][j], the weight of gene layer j in auxiliary layer l (L × G).
        public var coefficients: [[Float]] {
            switch self {
            case .tleg(let d):
                return (0..<d).map { [1, Float($0 + 1) / Float(d)] }          // l/L with l = 1…L
            case .sws(let p):
                let stageOf = p.enumerated().flatMap { s, n in Array(repeating: s, count: n) }
                return stageOf.map { s in (0..<p.count).map { $0 == s ? 1 : 0 } }
            }
        }

        /// The expansion that reproduces this auxiliary model exactly from the saved gene.
        public var expansion: LearngeneExpansion.Mode {
            switch self {
            case .tleg(let d): return .tleg(depth: d)
            case .sws(let p): return .sws(profile: p)
            }
        }

        /// Checks the depth or profile.
        ///
        /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` naming the rule.
        public func validate() throws {
            switch self {
            case .tleg(let d):
                guard d >= 2 else {
                    throw GrowthError.constraintViolated(operator: "learngene", constraint: "tleg depth >= 2",
                                                         detail: "θ_A and θ_B are only determined by at least 2 layers, got depth \(d)")
                }
            case .sws(let p):
                guard !p.isEmpty else {
                    throw GrowthError.constraintViolated(operator: "learngene", constraint: "sws stages >= 1",
                                                         detail: "the stage profile is empty")
                }
                guard p.allSatisfy({ $0 >= 1 }) else {
                    throw GrowthError.constraintViolated(operator: "learngene", constraint: "every stage depth >= 1",
                                                         detail: "profile \(p)")
                }
            }
        }

        public var description: String {
            switch self {
            case .tleg(let d): return "tleg(depth: \(d))"
            case .sws(let p): return "sws(profile: \(p.map(String.init).joined(separator: ",")))"
            }
        }

        enum CodingKeys: String, CodingKey { case method, depth, profile }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            switch try c.decode(String.self, forKey: .method) {
            case "tleg": self = .tleg(depth: try c.decode(Int.self, forKey: .depth))
            case "sws": self = .sws(profile: try c.decode([Int].self, forKey: .profile))
            case let m:
                throw DecodingError.dataCorruptedError(forKey: .method, in: c, debugDescription: "expected tleg or sws, got \(m)")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .tleg(let d): try c.encode("tleg", forKey: .method); try c.encode(d, forKey: .depth)
            case .sws(let p): try c.encode("sws", forKey: .method); try c.encode(p, forKey: .profile)
            }
        }
    }

    /// The manifest written beside a saved gene's config.json: the method it was trained with.
    public static let manifestFileName = "scion_learngene.json"

    /// The method.
    public let method: Method
    /// The architecture family (gpt2 or llama).
    public let family: ModelFamily
    /// The stored model: `method.geneLayers` layers plus embeddings, final norm and head. Its
    /// parameters are this model's parameters.
    public let gene: any TrainableLanguageModel
    /// The auxiliary model of `method.depth` layers that runs; its parameters are derived.
    public let expanded: any TrainableLanguageModel

    struct Binding {
        let target: Parameter
        let sources: [(Parameter, Float)]
    }
    let bindings: [Binding]

    /// Wires an auxiliary model to a gene of the same architecture.
    ///
    /// - Parameters:
    ///   - gene: A model with `method.geneLayers` layers.
    ///   - expanded: A model of the same config with `method.depth` layers (its values are replaced).
    /// - Throws: ``GrowthError`` for a bad method, layer counts that do not match it, or parameter
    ///   sets that do not correspond.
    public init(method: Method, family: ModelFamily, gene: any TrainableLanguageModel, expanded: any TrainableLanguageModel) throws {
        try method.validate()
        guard family != .bert else {
            throw GrowthError.unsupported(operator: "learngene", reason: "BERT is an encoder; learngene training distills causal LMs (gpt2, llama)")
        }
        guard gene.layerCount == method.geneLayers, expanded.layerCount == method.depth else {
            throw GrowthError.constraintViolated(
                operator: "learngene", constraint: "gene layers == \(method.geneLayers) and auxiliary layers == \(method.depth)",
                detail: "gene has \(gene.layerCount) layers, auxiliary model \(expanded.layerCount) for \(method)")
        }
        self.method = method; self.family = family; self.gene = gene; self.expanded = expanded
        let prefix = Self.layerPrefix(family)
        let geneParameters = Dictionary(gene.namedParameters(), uniquingKeysWith: { a, _ in a })
        let c = method.coefficients
        var bindings: [Binding] = []
        for (key, target) in expanded.namedParameters() {
            var sources: [(Parameter, Float)] = []
            if let (l, suffix) = Self.splitLayerKey(key, prefix: prefix) {
                for j in 0..<method.geneLayers where c[l][j] != 0 {
                    guard let p = geneParameters["\(prefix)\(j).\(suffix)"], p.shape == target.shape else {
                        throw GrowthError.invalidCheckpoint("learngene: gene layer \(j) has no '\(suffix)' of shape \(target.shape)")
                    }
                    sources.append((p, c[l][j]))
                }
            } else {
                guard let p = geneParameters[key], p.shape == target.shape else {
                    throw GrowthError.invalidCheckpoint("learngene: the gene has no '\(key)' of shape \(target.shape)")
                }
                sources.append((p, 1))
            }
            bindings.append(Binding(target: target, sources: sources))
        }
        self.bindings = bindings
        bind()
    }

    /// A fresh auxiliary model for `method`, shaped like `configData` (a teacher's config.json) except
    /// for its depth. Initialization follows the family's scheme for a `method.depth`-layer model:
    /// embeddings, final norm and head as that model's; TLEG θ_A = its layer 0 and θ_B = its layer 1's
    /// matrices with vectors (biases, norm weights) 0, so every generated layer starts with unit norms;
    /// SWS stage s = that model's first layer of stage s.
    ///
    /// - Throws: ``GrowthError`` for BERT or a bad method; `ModelLoadError` for an invalid config.
    public static func random(family: ModelFamily, configData: Data, method: Method, seed: UInt64) throws -> LearngeneModel {
        try method.validate()
        var g = RandomGenerator(seed: seed)
        let reference = try randomModel(family: family, configData: configData, layers: method.depth, generator: &g)
        var scratch = RandomGenerator(seed: seed ^ 0x9E37)
        let gene = try randomModel(family: family, configData: configData, layers: method.geneLayers, generator: &scratch)
        let prefix = layerPrefix(family)
        let ref = reference.stateDictionary()
        var initial: [String: Tensor] = [:]
        let stageStart: [Int]
        switch method {
        case .tleg: stageStart = [0, 1]
        case .sws(let p): stageStart = p.indices.map { s in p[..<s].reduce(0, +) }
        }
        for (key, p) in gene.namedParameters() {
            if let (j, suffix) = splitLayerKey(key, prefix: prefix) {
                let source = ref["\(prefix)\(stageStart[j]).\(suffix)"]!
                if case .tleg = method, j == 1, p.shape.count < 2 {
                    initial[key] = Tensor.zeros(p.shape)
                } else {
                    initial[key] = source
                }
            } else {
                initial[key] = ref[key]!
            }
        }
        try gene.load(initial, strict: false)
        return try LearngeneModel(method: method, family: family, gene: gene, expanded: reference)
    }

    /// A fresh auxiliary model shaped like the HF folder at `path` (a teacher).
    ///
    /// - Throws: ``GrowthError/unsupported(operator:reason:)`` for a model type other than GPT-2 or
    ///   the Llama family; as ``random(family:configData:method:seed:)``.
    public static func random(like path: String, method: Method, seed: UInt64) throws -> LearngeneModel {
        let folder = try HFFolder(path: path)
        guard let type = folder.modelType, let family = ModelFamily(modelType: type), family != .bert else {
            throw GrowthError.unsupported(operator: "learngene",
                                          reason: "model_type '\(folder.modelType ?? "?")' (learngene training supports gpt2, llama, mistral, qwen2)")
        }
        return try random(family: family, configData: folder.configData, method: method, seed: seed)
    }

    /// Reads the method a gene folder was trained with (nil when it has no manifest).
    ///
    /// - Throws: `DecodingError` for a malformed manifest.
    public static func readMethod(folder path: String) throws -> Method? {
        guard let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(manifestFileName)) else {
            return nil
        }
        return try JSONDecoder().decode(Method.self, from: data)
    }

    /// A randomly initialized GPT-2 or Llama-family model of `configData`'s shape with `layers` layers.
    static func randomModel(family: ModelFamily, configData: Data, layers: Int,
                            generator: inout RandomGenerator) throws -> any TrainableLanguageModel {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        switch family {
        case .gpt2:
            var c = try decoder.decode(GPT2Config.self, from: configData)
            c.nLayer = layers
            try c.validate()
            return GPT2LMHeadModel(config: c, generator: &generator)
        case .llama:
            var c = try decoder.decode(LlamaConfig.self, from: configData)
            c.numHiddenLayers = layers
            return try LlamaForCausalLM(config: c, generator: &generator)
        case .bert:
            throw GrowthError.unsupported(operator: "learngene", reason: "BERT is an encoder; learngene training distills causal LMs")
        }
    }

    static func layerPrefix(_ family: ModelFamily) -> String {
        switch family {
        case .gpt2: return "transformer.h."
        case .llama: return "model.layers."
        case .bert: return "encoder.layer."
        }
    }

    /// ("transformer.h.3.attn.c_attn.weight", "transformer.h.") → (3, "attn.c_attn.weight").
    static func splitLayerKey(_ key: String, prefix: String) -> (Int, String)? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let l = Int(rest[..<dot]) else { return nil }
        return (l, String(rest[rest.index(after: dot)...]))
    }

    /// Recomputes every auxiliary parameter from the gene: Σ_j c[l][j]·gene_j for layer tensors, the
    /// gene's own tensor for the rest. With gradients on, the results stay on the tape.
    public func bind() {
        for b in bindings {
            if b.sources.count == 1 && b.sources[0].1 == 1 {
                b.target.bindDerived(b.sources[0].0.value)
                continue
            }
            var v: Tensor? = nil
            for (p, c) in b.sources {
                let term = c == 1 ? p.value : p.value * Double(c)
                v = v.map { $0 + term } ?? term
            }
            b.target.bindDerived(v!)
        }
    }

    // MARK: Module and LanguageModel

    /// The gene's parameters under its HF keys (the layers are `method.geneLayers` long).
    public var entries: [ModuleEntry] { gene.entries }
    public var vocabularySize: Int { expanded.vocabularySize }
    public var maxPositions: Int { expanded.maxPositions }
    /// The auxiliary depth L.
    public var layerCount: Int { expanded.layerCount }

    public var gradientCheckpointing: Bool {
        get { expanded.gradientCheckpointing }
        set { expanded.gradientCheckpointing = newValue }
    }

    public func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        bind()
        return expanded.logits(ids, cache: cache, attentionMask: attentionMask)
    }

    public func nextTokenLogits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        bind()
        return expanded.nextTokenLogits(ids, cache: cache, attentionMask: attentionMask)
    }

    public func hiddenStates(_ ids: Tensor) -> [Tensor] {
        bind()
        return expanded.hiddenStates(ids)
    }

    public func makeCache(batchSize: Int, capacity: Int) -> KVCache { expanded.makeCache(batchSize: batchSize, capacity: capacity) }

    /// Saves the gene as an HF folder (a `method.geneLayers`-layer model that loads anywhere) with
    /// the method manifest, atomically.
    ///
    /// - Throws: `CheckpointError` when `path` exists and `overwrite` is false, or writing fails.
    public func save(to path: String, overwrite: Bool) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifest = try encoder.encode(method)
        try AtomicFolder.write(to: path, overwrite: overwrite) { tmp in
            try gene.save(to: tmp, overwrite: true)
            try manifest.write(to: URL(fileURLWithPath: tmp).appendingPathComponent(Self.manifestFileName))
        }
    }
}
