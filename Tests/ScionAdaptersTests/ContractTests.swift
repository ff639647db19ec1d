// The contract every adapter method keeps, checked over `allAdapterMethods` (plus LoRA's rsLoRA,
// PiSSA and OLoRA variants, and LoRA on the token embedding: Llama's untied `embed_tokens`, GPT-2's
// `wte` tied to `lm_head`) on the tiny Llama ([out, in] weights) and GPT-2 (Conv1D [in, out]):
// output at initialisation equals the base model's; merged equals unmerged; unmerge restores the
// base weights; save → load round-trips; the trainable count matches the method's closed form.

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

struct Variant: CustomStringConvertible, Sendable {
    let label: String
    let config: @Sendable () -> any AdapterConfig
    var description: String { label }
}

let contractVariants: [Variant] = allAdapterMethods.map { m in Variant(label: m.name) { m.makeConfig(r: 4, targetModules: nil) } } + [
    Variant(label: "rslora") { LoRA.Config(r: 4, loraAlpha: 8, useRslora: true) },
    Variant(label: "pissa") { LoRA.Config(r: 4, loraAlpha: 8, initLoraWeights: .pissa) },
    Variant(label: "olora") { LoRA.Config(r: 4, loraAlpha: 8, initLoraWeights: .olora) },
    Variant(label: "lora-all-linear") { LoRA.Config(r: 2, loraAlpha: 4, targetModules: .allLinear) },
    Variant(label: "lora-embedding") { LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["embed_tokens", "wte", "q_proj", "c_attn"])) },
]

@Suite struct AdapterContractTests {
    @Test(arguments: contractVariants, ["llama", "gpt2"])
    func contract(_ variant: Variant, _ base: String) throws {
        let model = try Fixtures.model(base)
        let baseLogits = Fixtures.logits(model)
        let total = model.numberOfParameters
        let config = variant.config()
        let keys = try Injection.addAdapter(config, to: model, seed: 3)
        #expect(!keys.isEmpty)

        // Output at initialisation equals the base model's (PiSSA/OLoRA: up to the residual's rounding).
        #expect(maxAbsDiff(Fixtures.logits(model), baseLogits) <= 1e-5)

        if variant.label == "lora-embedding" { #expect(keys.contains { $0.hasSuffix("embed_tokens") || $0.hasSuffix("wte") }) }

        // Trainable count = closed form; only adapter parameters train.
        let layers = Dictionary(Injection.linearLayers(of: model), uniquingKeysWith: { a, _ in a })
        let resolved = try PEFTFormat.config(of: model)   // with the architecture's defaults filled in
        let closedForm = keys.reduce(0) { $0 + Injection.trainableParameterCount(resolved, key: $1, in: model) }
        let report = Injection.trainableReport(model)
        let shared = (resolved as? Compacter.Config)?.sharedParameterCount ?? (resolved as? SAID.Config)?.sharedParameterCount ?? 0
        #expect(report.trainable == closedForm + shared)
        var seen = Set<ObjectIdentifier>(), stored = 0   // shared parameters (Compacter's rule) once
        for k in keys {
            for e in activeAdapterEntries(model, k) {
                if case .parameter(_, let p) = e, seen.insert(ObjectIdentifier(p)).inserted { stored += p.value.count }
            }
        }
        #expect(report.total == total + stored)

        randomizeAdapters(model)
        let adapted = Fixtures.logits(model)
        #expect(maxAbsDiff(adapted, baseLogits) > 1e-3, "the randomized adapter must matter")

        // Merge: same output; unmerge: exactly the weights before. Non-linear methods refuse, naming a module.
        let before = model.stateDictionary()
        if keys.contains(where: { !activeAdapterMerges(model, $0) }) {
            #expect(throws: AdapterError.notMergeable(module: keys[0])) { try Injection.merge(model) }
            #expect(layers.values.allSatisfy { $0.unmergedState == nil }, "a refused merge changes nothing")
        } else {
        try Injection.merge(model)
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-5)
        Injection.unmerge(model)
        let after = model.stateDictionary()
        for (k, v) in before { #expect(maxAbsDiff(after[k]!, v) <= 1e-6, "\(k)") }
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-6)
        }

        // Disable / enable.
        Injection.setAdaptersEnabled(false, in: model)
        let disabledBase = Fixtures.logits(model)
        Injection.setAdaptersEnabled(true, in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-6)
        if config.peftType != "LORA" || !(config as! LoRA.Config).initLoraWeights.changesBase {
            #expect(maxAbsDiff(disabledBase, baseLogits) <= 1e-6)
        }

        // Save → load round trip, into a fresh base carrying the same base weights (PiSSA's residual).
        let dir = Fixtures.tempDirectory(variant.label)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PEFTFormat.save(model, to: dir)
        let fresh = try Fixtures.model(base)
        let baseKeys = Set(fresh.namedLeaves().map(\.0))
        let baseOnly = model.stateDictionary().filter { baseKeys.contains($0.key) }
        try fresh.load(baseOnly)
        let loaded = try PEFTFormat.load(into: fresh, from: dir)
        #expect(loaded.peftType == config.peftType)
        #expect(maxAbsDiff(Fixtures.logits(fresh), adapted) <= 1e-6)
        #expect(Injection.trainableReport(fresh).trainable == closedForm + shared)
    }
}

extension LoRA.Initialization {
    var changesBase: Bool { self == .pissa || self == .olora }
}
