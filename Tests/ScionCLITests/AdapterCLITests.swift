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

/// `scion finetune --resume`: a run stopped after step 3 (as if killed; `--stop-after`) and resumed to
/// step 6 ends exactly where an uninterrupted 6-step run ends — adapter weights, every step's loss —
/// for AdaLoRA with lora_dropout and gradient accumulation (allocator EMAs, budget masks, dropout
/// masks per micro-batch) and IncreLoRA (ranks grown before and after the kill, optimizer state
/// resized with them).
@Suite struct FinetuneResumeCLITests {
    static func tensors(_ path: String) throws -> [String: [Float]] {
        // safetensors: u64 header length, JSON header, little-endian float32 data.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var out: [String: [Float]] = [:]
        for (k, v) in header where k != "__metadata__" {
            let info = try #require(v as? [String: Any]), offsets = try #require(info["data_offsets"] as? [Int])
            let bytes = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
            out[k] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return out
    }

    static func losses(_ run: String) throws -> [Double] {
        try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["kind"] as? String == "train"
            else { return nil }
            return o["loss"] as? Double
        }
    }

    @Test func killedRunResumesExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-ft-resume-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let data = "  synthetic: {documents: 120, seed: 1, vocabularySize: 300}\n  sequenceLength: 32\n  batchSize: 2\n"
        try ("model:\n  init: {architecture: llama, hiddenSize: 32, layers: 2, heads: 4, contextLength: 64}\ndata:\n" + data
             + "steps: 2\noutput: \(dir)/pre\n").write(toFile: dir + "/pre.yaml", atomically: true, encoding: .utf8)
        try ("model: {from: x}\ndata:\n" + data + "steps: 6\ngradientAccumulation: 2\ncheckpointEvery: 2\n")
            .write(toFile: dir + "/ft.yaml", atomically: true, encoding: .utf8)
        let pre = try runScion(["train", "--config", dir + "/pre.yaml", "--json"])
        #expect(pre.status == 0, "stderr: \(pre.err)")
        let cases: [(String, [String])] = [
            ("adalora", ["--dropout", "0.2", "--adapter-set", "total_step=6", "--adapter-set", "tfinal=1"]),
            ("increlora", ["--adapter-set", "deltaT=2", "--adapter-set", "top_h=2"]),
        ]
        for (method, extra) in cases {
            let base = ["finetune", "--model", dir + "/pre/model", "--method", method, "--r", "2", "--config", dir + "/ft.yaml", "--json"] + extra
            let straight = try runScion(base + ["--output", "\(dir)/\(method)-straight"])
            #expect(straight.status == 0, "\(method) stderr: \(straight.err)")
            let killed = try runScion(base + ["--output", "\(dir)/\(method)-killed", "--stop-after", "3"])
            #expect(killed.status == 0 && killed.out.contains("\"stopped_at\" : 3"), "\(method) stderr: \(killed.err) out: \(killed.out)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(method)-killed/adapter"), "a stopped run writes no adapter")
            let resumed = try runScion(["finetune", "--resume", "\(dir)/\(method)-killed", "--json"])
            #expect(resumed.status == 0, "\(method) stderr: \(resumed.err)")
            let a = try Self.tensors("\(dir)/\(method)-straight/adapter/adapter_model.safetensors")
            let b = try Self.tensors("\(dir)/\(method)-killed/adapter/adapter_model.safetensors")
            #expect(Set(a.keys) == Set(b.keys) && !a.isEmpty, "\(method)")
            var worst: Float = 0
            for (k, v) in a {
                guard let w = b[k], w.count == v.count else { Issue.record("\(method) \(k): shapes differ"); continue }
                for (x, y) in zip(v, w) { worst = max(worst, abs(x - y)) }
            }
            #expect(worst <= 1e-6, "\(method): max |Δ| \(worst) between straight and resumed adapters")
            // The method's schedule state at the end (AdaLoRA's EMAs, IncreLoRA's importance and ranks).
            let extra = "checkpoints/step-6/extra-\(method).data"
            #expect(FileManager.default.contents(atPath: "\(dir)/\(method)-straight/" + extra) != nil, "\(method): \(extra)")
            #expect(FileManager.default.contents(atPath: "\(dir)/\(method)-straight/" + extra)
                    == FileManager.default.contents(atPath: "\(dir)/\(method)-killed/" + extra), "\(method): schedule state differs")
            let la = try Self.losses("\(dir)/\(method)-straight"), lb = try Self.losses("\(dir)/\(method)-killed")
            #expect(la.count == 6 && la == lb, "\(method): losses \(la) vs \(lb)")
            if method == "increlora" {
                // Ranks grew (at steps 2, 4 and 6), so the resume carried grown shapes.
                #expect(a.keys.contains { $0.hasSuffix("lora_E") } && a.filter { $0.key.hasSuffix("lora_E") }.values.contains { $0.count > 2 })
            }
        }
        let bad = try runScion(["finetune", "--model", "m", "--method", "increlora", "--data", "d", "--adapter-set", "delta_t=2"])
        #expect(bad.status != 0 && bad.err.contains("delta_t: not a field of the increlora config"), "stderr: \(bad.err)")
        let none = try runScion(["finetune", "--resume", dir + "/pre"])
        #expect(none.status != 0 && none.err.contains("no fine-tuning run to resume"), "stderr: \(none.err)")
    }

    @Test func mergeOnAGGUFBaseWantsAGGUFOutput() throws {
        let r = try runScion(["adapter", "merge", "--model", "base.gguf", "--adapter", "a", "--output", "merged"])
        #expect(r.status != 0 && r.err.contains("a GGUF base merges into a GGUF file"), "stderr: \(r.err)")
    }

    @Test func inspectShowsEmbeddingRanks() throws {
        let r = try runScion(["adapter", "inspect", fixtures.appendingPathComponent("peft/llama_lora_embedding").path, "--json"])
        #expect(r.status == 0, "stderr: \(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect((json["ranks"] as? [String: Int])?["model.embed_tokens"] == 4)
        #expect((json["modules"] as? [String])?.contains("model.embed_tokens") == true)
    }
}
