// Shrink by inheritance: a smaller student inherits a subset of a teacher's layers, attention heads
// (whole GQA groups, then query heads within each), FFN channels and hidden channels. Follows the
// weight-inheritance half of TinyCLIP (Wu et al. 2023, "TinyCLIP: CLIP Distillation via Affinity
// Mimicking and Weight Inheritance", §3.2), with manual (evenly spaced / first) or magnitude-based
// selection. It reuses bert2BERT's per-tensor axis rules (`WidthExpansion.rules`) with selection
// maps instead of copy maps, so nothing is divided. Never function-preserving: the student is then
// distilled from the teacher (progressive multi-stage distillation: ProgressiveShrink.swift).

import Foundation
import ScionTensor

/// Builds a smaller model from chosen parts of a larger one.
///
/// ```swift
/// let student = try InheritanceShrink(layers: 6, intermediateSize: 1536, choice: .importance).grow(teacher)
/// ```
public struct InheritanceShrink: GrowthOperator {
    /// How units are chosen.
    public enum Choice: String, Sendable, Equatable {
        /// Indices ⌊i·n/k⌋ (every other layer for n = 2k).
        case evenlySpaced
        /// The first k units.
        case first
        /// The k units with the largest magnitude score: the product (sum of logs) of the L2 norms of
        /// every weight slice that reads or writes the unit; heads and groups sum their channels.
        case importance
    }

    public static let name = "shrink"
    /// Number of layers to keep (chosen by `choice`; ignored when `layerIndices` is set).
    public var layers: Int?
    /// Explicit teacher layers to keep, increasing.
    public var layerIndices: [Int]?
    /// New hidden size (GPT-2/BERT heads shrink with it at fixed head dim).
    public var hiddenSize: Int?
    /// New FFN inner size.
    public var intermediateSize: Int?
    /// New query-head count (Llama family).
    public var attentionHeads: Int?
    /// New key/value-head count (Llama family).
    public var keyValueHeads: Int?
    /// The selection rule for layers (except `.importance`, which keeps layers evenly spaced) and units.
    public var choice: Choice

    public init(layers: Int? = nil, layerIndices: [Int]? = nil, hiddenSize: Int? = nil, intermediateSize: Int? = nil,
                attentionHeads: Int? = nil, keyValueHeads: Int? = nil, choice: Choice = .evenlySpaced) {
        self.layers = layers; self.layerIndices = layerIndices; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.attentionHeads = attentionHeads
        self.keyValueHeads = keyValueHeads; self.choice = choice
    }

    public var preservesFunction: Bool { false }

    public var parameters: [String: String] {
        var p = ["choice": choice.rawValue]
        if let v = layers { p["layers"] = "\(v)" }
        if let v = layerIndices { p["layer_indices"] = v.map(String.init).joined(separator: ",") }
        if let v = hiddenSize { p["hidden_size"] = "\(v)" }
        if let v = intermediateSize { p["intermediate_size"] = "\(v)" }
        if let v = attentionHeads { p["num_attention_heads"] = "\(v)" }
        if let v = keyValueHeads { p["num_key_value_heads"] = "\(v)" }
        return p
    }

    /// k of n indices, evenly spaced: ⌊i·n/k⌋.
    public static func evenlySpaced(_ k: Int, of n: Int) -> [Int] { (0..<k).map { $0 * n / k } }

    /// The teacher layers the student keeps.
    public func keptLayers(of l: Int) -> [Int] {
        if let layerIndices { return layerIndices }
        let k = layers ?? l
        return choice == .first ? Array(0..<k) : Self.evenlySpaced(k, of: l)
    }

    struct Targets { var c: Int, f: Int, h: Int, kv: Int, d: Int }

    func targets(_ s: Checkpoint) throws -> Targets {
        let fam = s.family
        let c = s.hiddenSize, f = s.intermediateSize, h = s.headCount, kv = s.keyValueHeadCount, d = s.headDimension
        let l = s.layerCount
        let kept = keptLayers(of: l)
        try require(!kept.isEmpty && kept.count <= l, "1 <= layers <= \(l)", "asked for \(kept.count) of \(l) layers")
        try require(kept.allSatisfy { $0 >= 0 && $0 < l } && zip(kept, kept.dropFirst()).allSatisfy { $0 < $1 },
                    "layer indices increasing within 0..<\(l)", "\(kept)")
        let c2 = hiddenSize ?? c, f2 = intermediateSize ?? f
        let hk = fam.hiddenSizeKey, fk = fam.intermediateSizeKey, qk = fam.headCountKey
        try require(c2 >= 1 && c2 <= c, "1 <= \(hk) <= \(c)", "asked for \(c2)")
        try require(f2 >= 1 && f2 <= f, "1 <= \(fk) <= \(f)", "asked for \(f2)")
        switch fam {
        case .gpt2, .bert:
            try require(c2 % d == 0, "\(hk) % head_dim == 0", "head_dim D = \(d) stays fixed, and \(c2) is not a multiple of \(d)")
            if let a = attentionHeads { try require(a == c2 / d, "\(qk) == \(hk) / head_dim", "\(a) ≠ \(c2)/\(d)") }
            try require(keyValueHeads == nil || keyValueHeads == c2 / d, "num_key_value_heads == \(qk)",
                        "\(fam.rawValue) has no grouped-query attention")
            return Targets(c: c2, f: f2, h: c2 / d, kv: c2 / d, d: d)
        case .llama:
            let h2 = attentionHeads ?? h, kv2 = keyValueHeads ?? min(kv, h2)
            try require(h2 >= 1 && h2 <= h, "1 <= \(qk) <= \(h)", "asked for \(h2)")
            try require(kv2 >= 1 && kv2 <= kv, "1 <= num_key_value_heads <= \(kv)", "asked for \(kv2)")
            try require(h2 % kv2 == 0, "\(qk) % num_key_value_heads == 0", "\(h2) query heads do not divide into \(kv2) groups")
            try require(h2 / kv2 <= h / kv, "\(qk) / num_key_value_heads <= \(h / kv)",
                        "\(h2 / kv2) query heads per group, but the teacher's groups have \(h / kv)")
            return Targets(c: c2, f: f2, h: h2, kv: kv2, d: d)
        }
    }

    public func validate(_ source: Checkpoint) throws { _ = try targets(source) }

    // MARK: Selection

    /// Per-unit scores of `space` from every tensor in `tensors` that has an axis in it.
    static func scores(_ tensors: [String: Tensor], table: [String: [WidthExpansion.AxisRule]], ruleKey: (String) -> String,
                       space: WidthExpansion.Space, count: Int) -> [Double] {
        var s = [Double](repeating: 0, count: count)
        for (k, t) in tensors {
            guard let rules = table[ruleKey(k)] else { continue }
            for r in rules where r.space == space || (space == .query && r.space == .fusedQKV) {
                let (outer, n, inner) = TensorSurgery.split(t.shape, axis: r.axis)
                let v = t.floats()
                var sq = [Double](repeating: 0, count: n)
                for o in 0..<outer { for j in 0..<n { for i in 0..<inner { let x = Double(v[(o * n + j) * inner + i]); sq[j] += x * x } } }
                for j in 0..<n { s[j % count] += 0.5 * Foundation.log(sq[j] + 1e-30) }
            }
        }
        return s
    }

    /// k of n units by `choice` (importance: top-k scores), in increasing order.
    func select(_ k: Int, of n: Int, scores: () -> [Double]) -> [Int] {
        switch choice {
        case .first: return Array(0..<k)
        case .evenlySpaced: return Self.evenlySpaced(k, of: n)
        case .importance:
            let s = scores()
            return Array((0..<n).sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.prefix(k)).sorted()
        }
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        let t = try targets(source)
        let fam = source.family
        let table = WidthExpansion.rules(fam)
        let engine = WidthExpansion()
        let c = source.hiddenSize, f = source.intermediateSize, h = source.headCount, kv = source.keyValueHeadCount, d = t.d
        let rep = h / kv, rep2 = t.h / t.kv
        let kept = keptLayers(of: source.layerCount)
        let layers = kept.map { source.layer($0) }
        let hidden = IndexMap(map: select(t.c, of: c) {
            Self.scores(source.nonLayerTensors, table: table, ruleKey: WidthExpansion.globalRuleKey, space: .residual, count: c)
        }, oldCount: c)
        var newLayers: [[String: Tensor]] = []
        for layer in layers {
            let key = { (k: String) in "layer." + k }
            let ffn = IndexMap(map: select(t.f, of: f) {
                Self.scores(layer, table: table, ruleKey: key, space: .ffn, count: f)
            }, oldCount: f)
            // Heads: score channels, sum per head; groups add their query heads and their KV head.
            let qChannel = Self.scores(layer, table: table, ruleKey: key, space: .query, count: h * d)
            let kvChannel = fam == .llama ? Self.scores(layer, table: table, ruleKey: key, space: .keyValue, count: kv * d)
                                          : [Double](repeating: 0, count: kv * d)
            let headScore = (0..<h).map { hd in (0..<d).reduce(0.0) { $0 + qChannel[hd * d + $1] } }
            let groups = select(t.kv, of: kv) {
                (0..<kv).map { g in (0..<rep).reduce(0.0) { $0 + headScore[g * rep + $1] } + (0..<d).reduce(0.0) { $0 + kvChannel[g * d + $1] } }
            }
            var qMap: [Int] = []
            for g in groups {
                let within = select(rep2, of: rep) { (0..<rep).map { headScore[g * rep + $0] } }
                qMap += within.map { g * rep + $0 }
            }
            let plan = WidthExpansion.Plan(hidden: hidden, ffn: ffn, queryHeads: IndexMap(map: qMap, oldCount: h),
                                           kvHeads: IndexMap(map: groups, oldCount: kv), headDimension: d)
            var out: [String: Tensor] = [:]
            for (k, tensor) in layer {
                guard let rules = table["layer." + k] else {
                    throw GrowthError.unsupported(operator: Self.name, reason: "no width rule for layer tensor '\(k)'")
                }
                out[k] = engine.expand(tensor, rules: rules, plan: plan)
            }
            newLayers.append(out)
        }
        let globalPlan = WidthExpansion.Plan(hidden: hidden, ffn: IndexMap(oldCount: f, newCount: f),
                                             queryHeads: IndexMap(oldCount: h, newCount: h), kvHeads: IndexMap(oldCount: kv, newCount: kv),
                                             headDimension: d)
        var result = source.derived(operatorName: Self.name, parameters: parameters)
        var tensors: [String: Tensor] = [:]
        for (k, tensor) in source.nonLayerTensors {
            guard let rules = table[WidthExpansion.globalRuleKey(k)] else {
                throw GrowthError.unsupported(operator: Self.name, reason: "no width rule for tensor '\(k)'")
            }
            tensors[k] = engine.expand(tensor, rules: rules, plan: globalPlan)
        }
        result.tensors = tensors
        result = try result.replacingLayers(newLayers, layerSource: kept)
        try result.updateConfig { cfg in
            cfg[fam.hiddenSizeKey] = t.c
            cfg[fam.intermediateSizeKey] = t.f
            cfg[fam.headCountKey] = t.h
            if fam == .llama { cfg["num_key_value_heads"] = t.kv; cfg["head_dim"] = d }
        }
        return result
    }
}
