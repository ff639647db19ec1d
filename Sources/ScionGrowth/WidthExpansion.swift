// Width growth by bert2BERT's operators (Chen et al. 2022, "bert2BERT: Towards Reusable Pretrained
// Language Models", §3.1 FPI and §3.2 AKI), generalizing Net2Net's Net2WiderNet to the FFN inner
// size, the attention heads (whole heads, keeping GQA groups intact) and the hidden size.
//
// FPI: new unit j copies unit g(j); weights *reading* a grown space are divided by the copy count
// of g(j), so the next layer's input is unchanged. Exactness:
// - FFN inner size and heads: exact for every map (elementwise activations; duplicated heads give
//   identical attention rows).
// - hidden size: LayerNorm/RMSNorm statistics over the widened vector equal the old ones only when
//   every channel is copied the same number of times (C' = k·C with the cyclic map). Otherwise the
//   model is only approximately the same; measure its KL (`PreservationCheck`).
// - the final norm absorbs the division (its weight and bias are divided), so a tied head, which
//   must copy the embedding's columns undivided, stays exact.
// AKI: new units copy their incoming and outgoing weights from the *next* layer (the top layer uses
// its own), breaking the symmetry of FPI copies; never function-preserving. When the hidden size
// grows, the new residual channels a block writes (the new output columns of its attention and FFN
// output projections) come from the next layer too, as bert2BERT's AKI stacks the upper layer's
// expanded matrix into every new out-dimension. Without that, copied residual channels receive
// identical values and identical gradients in every layer, so they never separate in training and
// the widened residual stream keeps the old width's capacity (measured by `scion-bench growth`).
// The embeddings and norms stay FPI copies.

import Foundation
import ScionTensor

/// bert2BERT width expansion (FPI or AKI) of FFN inner size, attention heads and hidden size.
///
/// ```swift
/// let wider = try WidthExpansion(intermediateSize: 128, attentionHeads: 8, keyValueHeads: 4).grow(llama)
/// ```
public struct WidthExpansion: GrowthOperator {
    /// Which bert2BERT operator initializes the new units.
    public enum Method: String, Sendable, Equatable {
        /// Function-preserving initialization: copies of existing units, outgoing weights divided.
        case fpi
        /// Advanced knowledge initialization: new units copied from the next layer.
        case aki
    }

    public static let name = "widen"
    /// New hidden size C' (nil: unchanged). GPT-2 and BERT keep D = C/H, so heads become C'/D.
    public var hiddenSize: Int?
    /// New FFN inner size F' (nil: unchanged).
    public var intermediateSize: Int?
    /// New query-head count H' (nil: unchanged, or C'/D for GPT-2 and BERT).
    public var attentionHeads: Int?
    /// New key/value-head count (Llama GQA groups; nil: unchanged).
    public var keyValueHeads: Int?
    /// FPI (default) or AKI.
    public var method: Method
    /// How new units pick the unit they copy.
    public var selection: UnitSelection

    public init(hiddenSize: Int? = nil, intermediateSize: Int? = nil, attentionHeads: Int? = nil,
                keyValueHeads: Int? = nil, method: Method = .fpi, selection: UnitSelection = .cyclic) {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.attentionHeads = attentionHeads; self.keyValueHeads = keyValueHeads
        self.method = method; self.selection = selection
    }

    public var parameters: [String: String] {
        var p = ["method": method.rawValue]
        if let v = hiddenSize { p["hidden_size"] = "\(v)" }
        if let v = intermediateSize { p["intermediate_size"] = "\(v)" }
        if let v = attentionHeads { p["num_attention_heads"] = "\(v)" }
        if let v = keyValueHeads { p["num_key_value_heads"] = "\(v)" }
        switch selection {
        case .cyclic: p["selection"] = "cyclic"
        case .random(let s): p["selection"] = "random:\(s)"
        }
        return p
    }

    /// FPI without hidden growth is exact for every map; see ``preservesFunction(for:)``.
    public var preservesFunction: Bool { method == .fpi && hiddenSize == nil }

    /// Exact when FPI and the hidden size is unchanged or grown uniformly (C' = k·C, cyclic map).
    public func preservesFunction(for source: Checkpoint) -> Bool {
        guard method == .fpi else { return false }
        guard let c = hiddenSize, c != source.hiddenSize else { return true }
        return selection == .cyclic && c % source.hiddenSize == 0
    }

    // MARK: Target shape

    struct Plan {
        var hidden: IndexMap, ffn: IndexMap, queryHeads: IndexMap, kvHeads: IndexMap
        var headDimension: Int
    }

    /// Checks the target shape and returns the unit maps.
    func plan(_ s: Checkpoint) throws -> Plan {
        let f = s.family
        let c = s.hiddenSize, ff = s.intermediateSize, h = s.headCount, kv = s.keyValueHeadCount, d = s.headDimension
        let c2 = hiddenSize ?? c, ff2 = intermediateSize ?? ff
        let hk = f.hiddenSizeKey, fk = f.intermediateSizeKey, qk = f.headCountKey
        try require(c2 >= c, "\(hk) >= \(c)", "cannot shrink \(hk) from \(c) to \(c2) (use shrink)")
        try require(ff2 >= ff, "\(fk) >= \(ff)", "cannot shrink \(fk) from \(ff) to \(ff2) (use shrink)")
        var h2: Int, kv2: Int
        switch f {
        case .gpt2, .bert:
            try require(c2 % d == 0, "\(hk) % head_dim == 0",
                        "head_dim D = \(hk)/\(qk) = \(d) stays fixed, and \(c2) is not a multiple of \(d)")
            h2 = c2 / d
            if let a = attentionHeads {
                try require(a == h2, "\(qk) == \(hk) / head_dim",
                            "\(qk) \(a) ≠ \(c2)/\(d) = \(h2) (\(f.rawValue) heads grow with the hidden size)")
            }
            try require(keyValueHeads == nil || keyValueHeads == h2, "num_key_value_heads == \(qk)",
                        "\(f.rawValue) has no grouped-query attention")
            kv2 = h2
        case .llama:
            h2 = attentionHeads ?? h
            kv2 = keyValueHeads ?? kv
            try require(h2 >= h, "\(qk) >= \(h)", "cannot shrink \(qk) from \(h) to \(h2)")
            try require(kv2 >= kv, "num_key_value_heads >= \(kv)", "cannot shrink num_key_value_heads from \(kv) to \(kv2)")
            try require(kv2 > 0 && h2 % kv2 == 0, "\(qk) % num_key_value_heads == 0",
                        "\(h2) query heads do not divide into \(kv2) key/value groups")
            try require(h2 / kv2 >= h / kv, "\(qk) / num_key_value_heads >= \(h / kv)",
                        "query heads per group would drop from \(h / kv) to \(h2 / kv2)")
        }
        let kvMap = IndexMap(oldCount: kv, newCount: kv2, selection: selection)
        let rep = h / kv, rep2 = h2 / kv2
        let within = IndexMap(oldCount: rep, newCount: rep2, selection: selection)
        // Query head g'·rep2 + r copies old head kvMap(g')·rep + within(r): it stays in a group whose
        // key/value head is a copy of its source head's group.
        var qMap: [Int] = []
        for g in 0..<kv2 { for r in 0..<rep2 { qMap.append(kvMap.map[g] * rep + within.map[r]) } }
        let known = Set(Self.rules(f).keys)
        for k in s.nonLayerTensors.keys where !known.contains(Self.globalRuleKey(k)) {
            throw GrowthError.unsupported(operator: Self.name, reason: "no width rule for tensor '\(k)'")
        }
        for i in 0..<s.layerCount {
            for k in s.layer(i).keys where !known.contains("layer." + k) {
                throw GrowthError.unsupported(operator: Self.name, reason: "no width rule for tensor '\(s.layerPrefix)\(i).\(k)'")
            }
        }
        return Plan(hidden: IndexMap(oldCount: c, newCount: c2, selection: selection),
                    ffn: IndexMap(oldCount: ff, newCount: ff2, selection: selection),
                    queryHeads: IndexMap(map: qMap, oldCount: h), kvHeads: kvMap, headDimension: d)
    }

    public func validate(_ source: Checkpoint) throws { _ = try plan(source) }

    // MARK: Rules

    enum Space { case residual, ffn, query, keyValue, fusedQKV }
    /// One axis of one tensor: which space it indexes and whether it reads from it (divided).
    struct AxisRule { var axis: Int; var space: Space; var divide: Bool }

    /// The rule-table key of a non-layer tensor (BERT's optional "bert." prefix removed).
    static func globalRuleKey(_ k: String) -> String { k.hasPrefix("bert.") ? String(k.dropFirst(5)) : k }

    /// Per-family rules: "layer.<suffix>" for block tensors, the full key for the others.
    static func rules(_ f: ModelFamily) -> [String: [AxisRule]] {
        func copy(_ a: Int, _ s: Space) -> AxisRule { AxisRule(axis: a, space: s, divide: false) }
        func divide(_ a: Int, _ s: Space) -> AxisRule { AxisRule(axis: a, space: s, divide: true) }
        let normCopy = [copy(0, .residual)]
        // NOTE: the final norm divides (its output feeds only the head), so the head copies undivided.
        let finalNorm = [divide(0, .residual)]
        switch f {
        case .gpt2:
            return [
                "transformer.wte.weight": [copy(1, .residual)], "transformer.wpe.weight": [copy(1, .residual)],
                "transformer.ln_f.weight": finalNorm, "transformer.ln_f.bias": finalNorm,
                "lm_head.weight": [copy(1, .residual)],
                "layer.ln_1.weight": normCopy, "layer.ln_1.bias": normCopy,
                "layer.ln_2.weight": normCopy, "layer.ln_2.bias": normCopy,
                // Conv1D weights are [in, out].
                "layer.attn.c_attn.weight": [divide(0, .residual), copy(1, .fusedQKV)],
                "layer.attn.c_attn.bias": [copy(0, .fusedQKV)],
                "layer.attn.c_proj.weight": [divide(0, .query), copy(1, .residual)],
                "layer.attn.c_proj.bias": [copy(0, .residual)],
                "layer.mlp.c_fc.weight": [divide(0, .residual), copy(1, .ffn)],
                "layer.mlp.c_fc.bias": [copy(0, .ffn)],
                "layer.mlp.c_proj.weight": [divide(0, .ffn), copy(1, .residual)],
                "layer.mlp.c_proj.bias": [copy(0, .residual)],
            ]
        case .llama:
            var r: [String: [AxisRule]] = [
                "model.embed_tokens.weight": [copy(1, .residual)], "model.norm.weight": finalNorm,
                "lm_head.weight": [copy(1, .residual)],
                "layer.input_layernorm.weight": normCopy, "layer.post_attention_layernorm.weight": normCopy,
                "layer.self_attn.o_proj.weight": [copy(0, .residual), divide(1, .query)],
                "layer.self_attn.o_proj.bias": [copy(0, .residual)],
                "layer.mlp.down_proj.weight": [copy(0, .residual), divide(1, .ffn)],
                "layer.mlp.down_proj.bias": [copy(0, .residual)],
            ]
            for (name, space) in [("q_proj", Space.query), ("k_proj", .keyValue), ("v_proj", .keyValue)] {
                r["layer.self_attn.\(name).weight"] = [copy(0, space), divide(1, .residual)]
                r["layer.self_attn.\(name).bias"] = [copy(0, space)]
            }
            for name in ["gate_proj", "up_proj"] {
                r["layer.mlp.\(name).weight"] = [copy(0, .ffn), divide(1, .residual)]
                r["layer.mlp.\(name).bias"] = [copy(0, .ffn)]
            }
            return r
        case .bert:
            var r: [String: [AxisRule]] = [
                "embeddings.word_embeddings.weight": [copy(1, .residual)],
                "embeddings.position_embeddings.weight": [copy(1, .residual)],
                "embeddings.token_type_embeddings.weight": [copy(1, .residual)],
                "embeddings.LayerNorm.weight": normCopy, "embeddings.LayerNorm.bias": normCopy,
                "pooler.dense.weight": [copy(0, .residual), divide(1, .residual)], "pooler.dense.bias": normCopy,
                "cls.predictions.transform.dense.weight": [copy(0, .residual), divide(1, .residual)],
                "cls.predictions.transform.dense.bias": normCopy,
                "cls.predictions.transform.LayerNorm.weight": finalNorm,
                "cls.predictions.transform.LayerNorm.bias": finalNorm,
                "cls.predictions.decoder.weight": [copy(1, .residual)],
                "cls.predictions.decoder.bias": [], "cls.predictions.bias": [],
                "layer.attention.output.dense.weight": [copy(0, .residual), divide(1, .query)],
                "layer.attention.output.dense.bias": normCopy,
                "layer.attention.output.LayerNorm.weight": normCopy, "layer.attention.output.LayerNorm.bias": normCopy,
                "layer.intermediate.dense.weight": [copy(0, .ffn), divide(1, .residual)],
                "layer.intermediate.dense.bias": [copy(0, .ffn)],
                "layer.output.dense.weight": [copy(0, .residual), divide(1, .ffn)],
                "layer.output.dense.bias": normCopy,
                "layer.output.LayerNorm.weight": normCopy, "layer.output.LayerNorm.bias": normCopy,
            ]
            for name in ["query", "key", "value"] {
                r["layer.attention.self.\(name).weight"] = [copy(0, .query), divide(1, .residual)]
                r["layer.attention.self.\(name).bias"] = [copy(0, .query)]
            }
            return r
        }
    }

    /// Whether block tensor `key` (the suffix after the layer prefix) is an output projection whose
    /// result is added to the residual stream (attention output and FFN down projection, with bias).
    static func writesResidual(_ f: ModelFamily, _ key: String) -> Bool {
        let prefixes: [String]
        switch f {
        case .gpt2: prefixes = ["attn.c_proj.", "mlp.c_proj."]
        case .llama: prefixes = ["self_attn.o_proj.", "mlp.down_proj."]
        case .bert: prefixes = ["attention.output.dense.", "output.dense."]
        }
        return prefixes.contains { key.hasPrefix($0) }
    }

    /// The channel map of `space`.
    func channelMap(_ space: Space, _ p: Plan) -> IndexMap {
        switch space {
        case .residual: return p.hidden
        case .ffn: return p.ffn
        case .query: return p.queryHeads.expanded(blockWidth: p.headDimension)
        case .keyValue: return p.kvHeads.expanded(blockWidth: p.headDimension)
        case .fusedQKV:
            let q = p.queryHeads.expanded(blockWidth: p.headDimension)
            let n = q.oldCount
            return IndexMap(map: q.map + q.map.map { $0 + n } + q.map.map { $0 + 2 * n }, oldCount: 3 * n)
        }
    }

    /// Which channels of `space` are new units (AKI takes them from the next layer).
    func newChannels(_ space: Space, _ p: Plan) -> [Bool] {
        let d = p.headDimension
        switch space {
        case .residual: return p.hidden.isNew
        case .ffn: return p.ffn.isNew
        case .keyValue: return p.kvHeads.isNew.flatMap { Array(repeating: $0, count: d) }
        case .query, .fusedQKV:
            // A query head is new unless it is the first copy of its source head.
            var seen = Set<Int>()
            let heads = p.queryHeads.map.map { !seen.insert($0).inserted }
            let q = heads.flatMap { Array(repeating: $0, count: d) }
            return space == .query ? q : q + q + q
        }
    }

    func expand(_ t: Tensor, rules: [AxisRule], plan p: Plan) -> Tensor {
        var out = t
        for r in rules {
            let m = channelMap(r.space, p)
            out = TensorSurgery.gathered(out, axis: r.axis, map: m.map, scale: r.divide ? m.outgoingScale : nil)
        }
        return out
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        let p = try plan(source)
        let table = Self.rules(source.family)
        var out = source.derived(operatorName: Self.name, parameters: parameters)
        var tensors: [String: Tensor] = [:]
        for (k, t) in source.nonLayerTensors { tensors[k] = expand(t, rules: table[Self.globalRuleKey(k)]!, plan: p) }
        let l = source.layerCount
        let layers = (0..<l).map { source.layer($0) }
        for i in 0..<l {
            let next = method == .aki ? min(i + 1, l - 1) : i
            for (k, t) in layers[i] {
                let rules = table["layer." + k]!
                var grown = expand(t, rules: rules, plan: p)
                if next != i {
                    let fromNext = expand(layers[next][k]!, rules: rules, plan: p)
                    if let unitRule = rules.first(where: { $0.space != .residual }) {
                        grown = TensorSurgery.blended(grown, fromNext, axis: unitRule.axis,
                                                      useSecond: newChannels(unitRule.space, p))
                    }
                    // New residual channels written by the block's output projections: from the next layer.
                    if Self.writesResidual(source.family, k),
                       let out = rules.first(where: { $0.space == .residual && !$0.divide }) {
                        grown = TensorSurgery.blended(grown, fromNext, axis: out.axis, useSecond: p.hidden.isNew)
                    }
                }
                tensors[source.layerPrefix + "\(i).\(k)"] = grown
            }
        }
        out.tensors = tensors
        let f = source.family
        try out.updateConfig { c in
            c[f.hiddenSizeKey] = p.hidden.newCount
            c[f.intermediateSizeKey] = p.ffn.newCount
            c[f.headCountKey] = p.queryHeads.newCount
            if f == .llama {
                c["num_key_value_heads"] = p.kvHeads.newCount
                c["head_dim"] = p.headDimension
            }
        }
        return out
    }
}
