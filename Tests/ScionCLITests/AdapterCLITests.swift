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
