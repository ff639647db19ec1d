// PEFT interop: adapters written by PEFT 0.21.2 (Scripts/fixtures/make_peft_fixtures.py: LoRA, rsLoRA
// with a regex target, DoRA, IA3, AdaLoRA, LoRA on embed_tokens + q_proj, LoRA with layers_to_transform
// on the tiny Llama; LoRA, DoRA, IA3 on GPT-2's Conv1D)
// load in Scion and reproduce PEFT's logits; merged, too. With SCION_PEFT_EXPORT_DIR set, adapters
// Scion creates (embedding and layers_to_transform LoRA among them) are written there with their
// logits for Scripts/fixtures/check_scion_adapter_in_peft.py.

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

@Suite struct PEFTParityTests {
    static let cases = ["llama_lora", "llama_rslora", "llama_dora", "llama_ia3", "llama_adalora",
                        "gpt2_lora", "gpt2_dora", "gpt2_ia3", "llama_lora_embedding", "llama_lora_layers"]

    @Test(arguments: cases)
    func loadsPEFTAdapterAndMatchesLogits(_ name: String) throws {
        let expected = try Fixtures.expected(name)
        let base = try #require(expected["base"] as? String)
        let model = try Fixtures.model(base)
        let plain = Fixtures.logits(model, Fixtures.ints(expected["ids"]))
        try PEFTFormat.load(into: model, from: Fixtures.peftPath(name))
        let logits = Fixtures.logits(model, Fixtures.ints(expected["ids"]))
        let diff = maxAbsDiff(logits, Fixtures.doubles(expected["logits"]))
        print("PEFT parity \(name): max |Δlogit| = \(diff)")
        #expect(diff <= 1e-4)
        #expect(maxAbsDiff(logits, plain) > 1e-2, "the fixture adapter must change the output")
        try Injection.merge(model)
        #expect(maxAbsDiff(Fixtures.logits(model, Fixtures.ints(expected["ids"])), Fixtures.doubles(expected["logits"])) <= 1e-4)
    }

    @Test func configReadsPEFTFieldsAndIgnoresUnknownKeys() throws {
        let c = try PEFTFormat.readConfig(directory: Fixtures.peftPath("llama_rslora"))
        let lora = try #require(c as? LoRA.Config)
        #expect(lora.r == 4 && lora.loraAlpha == 8 && lora.useRslora)
        #expect(lora.targetModules == .regex(".*\\.(k_proj|o_proj)"))
        let ada = try #require(try PEFTFormat.readConfig(directory: Fixtures.peftPath("llama_adalora")) as? AdaLoRA.Config)
        #expect(ada.initR == 6 && ada.targetR == 3 && ada.deltaT == 1 && ada.totalStep == 100)
        let ia3 = try #require(try PEFTFormat.readConfig(directory: Fixtures.peftPath("gpt2_ia3")) as? IA3.Config)
        #expect(ia3.fanInFanOut && ia3.feedforwardModules == .names(["mlp.c_proj"]))
    }

    /// Writes Scion-made adapters for PEFT to load (run the check script afterwards).
    @Test func exportForPEFT() throws {
        guard let out = ProcessInfo.processInfo.environment["SCION_PEFT_EXPORT_DIR"] else { return }
        let cases: [(String, String, any AdapterConfig)] = [
            ("scion_llama_lora", "llama", LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj", "gate_proj"]))),
            ("scion_llama_rslora_dora", "llama", LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["k_proj", "o_proj"]), useRslora: true, useDora: true)),
            ("scion_llama_ia3", "llama", IA3.makeConfig(r: 0, targetModules: nil)),
            ("scion_llama_adalora", "llama", AdaLoRA.makeConfig(r: 4, targetModules: .names(["q_proj", "v_proj"]))),
            ("scion_gpt2_lora", "gpt2", LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["c_attn", "c_fc"]))),
            ("scion_gpt2_dora", "gpt2", LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(["c_attn"]), useDora: true)),
            ("scion_gpt2_ia3", "gpt2", IA3.makeConfig(r: 0, targetModules: nil)),
            ("scion_llama_lora_embedding", "llama", LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["embed_tokens", "v_proj"]))),
            ("scion_llama_lora_layers", "llama", { () -> LoRA.Config in
                var c = LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(["q_proj", "k_proj", "up_proj"]))
                c.layersToTransform = .one(0); c.layersPattern = .one("layers"); c.excludeModules = .names(["k_proj"])
                return c
            }()),
        ]
        for (name, base, config) in cases {
            let model = try Fixtures.model(base)
            try Injection.addAdapter(config, to: model, seed: 5)
            randomizeAdapters(model, seed: 21)
            let dir = out + "/" + name
            try PEFTFormat.save(model, to: dir, baseModelNameOrPath: Fixtures.modelPath(base))
            let logits = Fixtures.logits(model)
            let json: [String: Any] = ["base": base, "ids": Fixtures.ids, "logits": logits.floats().map { Double($0) }]
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/expected.json"))
        }
    }
}
