// Per-architecture checkpoint key rules, as data: the base-model prefix that checkpoints carry or
// omit (transformers' `base_model_prefix`), ignored buffers (GPT-2's attn.bias, Llama's
// rotary_emb.inv_freq, BERT's position_ids), tied weights (lm_head ↔ token embedding) and legacy
// renames (old BERT gamma/beta). Replaces free-form "sanitize" functions.

import Foundation
import ScionTensor

/// How a checkpoint's keys map onto a model's parameter keys.
public struct KeyRules: Sendable {
    /// The base-model prefix, with its dot ("transformer.", "model.", "bert.").
    public var basePrefix: String
    /// Key suffixes of buffers that checkpoints may hold but models do not load.
    public var ignoredSuffixes: [String]
    /// Checkpoint keys that duplicate another parameter when weights are tied (dropped on load when tied).
    public var tiedKeys: [String]
    /// Legacy name fragments and their current form, e.g. (".gamma", ".weight").
    public var legacyRenames: [(String, String)]

    public init(basePrefix: String, ignoredSuffixes: [String] = [], tiedKeys: [String] = [],
                legacyRenames: [(String, String)] = []) {
        self.basePrefix = basePrefix; self.ignoredSuffixes = ignoredSuffixes
        self.tiedKeys = tiedKeys; self.legacyRenames = legacyRenames
    }

    /// Maps checkpoint keys onto `modelKeys`: applies legacy renames, drops ignored buffers and (when
    /// `tied`) the tied duplicates, and adds or strips the base prefix where that makes a key match.
    /// Keys that still do not match are kept, so strict loading reports them as unexpected.
    public func normalize(_ tensors: [String: Tensor], modelKeys: Set<String>, tied: Bool) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, t) in tensors {
            var k = key
            for (old, new) in legacyRenames where k.hasSuffix(old) { k = String(k.dropLast(old.count)) + new }
            if ignoredSuffixes.contains(where: { k.hasSuffix($0) }) { continue }
            if !modelKeys.contains(k) {
                if modelKeys.contains(basePrefix + k) {
                    k = basePrefix + k
                } else if k.hasPrefix(basePrefix), modelKeys.contains(String(k.dropFirst(basePrefix.count))) {
                    k = String(k.dropFirst(basePrefix.count))
                }
            }
            if tied && tiedKeys.contains(k) && !modelKeys.contains(k) { continue }
            out[k] = t
        }
        return out
    }
}
