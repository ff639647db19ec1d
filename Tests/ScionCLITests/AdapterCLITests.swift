// `scion adapter inspect | merge | export` on the PEFT fixtures, and bad adapters named on --adapter.

import Foundation
import Testing

@Suite struct AdapterCLITests {
    let peft = fixtures.appendingPathComponent("peft")
    let models = fixtures.appendingPathComponent("models")

    @Test func inspectShowsMethodModulesAndRanks() throws {
        let r = try runScion(["adapter", "inspect", peft.appendingPathComponent("llama_dora").path, "--json"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(json["peft_type"] as? String == "LORA")
        #expect((json["modules"] as? [String])?.count == 6)
        #expect((json["ranks"] as? [String: Int])?["model.layers.0.self_attn.q_proj"] == 4)
    }

    @Test func mergeWritesAPlainModelAndMismatchIsNamed() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("scion-merge-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runScion(["adapter", "merge", "--model", models.appendingPathComponent("gpt2").path,
                              "--adapter", peft.appendingPathComponent("gpt2_lora").path, "--output", out])
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        let bad = try runScion(["adapter", "merge", "--model", models.appendingPathComponent("llama").path,
                                "--adapter", peft.appendingPathComponent("gpt2_lora").path, "--output", out + "-x"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("transformer.h.0.attn.c_attn"), "stderr: \(bad.err)")
    }
}

@Suite struct FinetuneCLITests {
    /// A tiny model pretrained for two steps, then fine-tuned with AdaLoRA (a per-step method) for
    /// three: the run writes a PEFT adapter and the merged model.
    @Test func finetuneWritesAdapterAndMergedModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-ft-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let data = "  synthetic: {documents: 120, seed: 1, vocabularySize: 300}\n  sequenceLength: 32\n  batchSize: 4\n"
        try ("model:\n  init: {architecture: llama, hiddenSize: 32, layers: 2, heads: 4, contextLength: 64}\ndata:\n" + data
             + "steps: 2\noutput: \(dir)/pre\n").write(toFile: dir + "/pre.yaml", atomically: true, encoding: .utf8)
        try ("model: {from: x}\ndata:\n" + data + "steps: 3\n").write(toFile: dir + "/ft.yaml", atomically: true, encoding: .utf8)
        let pre = try runScion(["train", "--config", dir + "/pre.yaml", "--json"])
        #expect(pre.status == 0, "stderr: \(pre.err)")
        let ft = try runScion(["finetune", "--model", dir + "/pre/model", "--method", "adalora", "--r", "4",
                               "--config", dir + "/ft.yaml", "--output", dir + "/ft", "--json"])
        #expect(ft.status == 0, "stderr: \(ft.err)")
        for f in ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "model/model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/ft/" + f), "\(f)")
        }
        // Both outputs carry the lineage: the pretraining "train" step, then the fine-tuning one naming the method.
        for f in ["adapter", "model"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/ft/" + f + "/scion_lineage.json"))
            let steps = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["steps"] as? [[String: Any]])
            #expect(steps.map { $0["operator"] as? String } == ["train", "train"], "\(f)")
            #expect((steps.last?["parameters"] as? [String: String])?["adapter"] == "adalora", "\(f)")
            #expect(steps.last?["parent_path"] as? String == dir + "/pre/model", "\(f)")
        }
        let bad = try runScion(["finetune", "--model", "m", "--method", "nope", "--data", "d"])
        #expect(bad.status != 0 && bad.err.contains("unknown --method nope"), "stderr: \(bad.err)")
    }
}
