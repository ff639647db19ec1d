// End-to-end tests of `scion grow` and `scion check preserved` on the tiny fixture models: a
// function-preserving widening checks out at ≤ 1e-5, an impossible shape fails naming the
// constraint and writes nothing, and the grown folder carries the lineage manifest.

import Foundation
import Testing

@Suite struct GrowCLITests {
    func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("scion-grow-cli-\(UUID().uuidString)").path
    }

    @Test func widenThenCheckPreserved() throws {
        let model = fixtures.appendingPathComponent("models/llama").path
        let out = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let g = try runScion(["grow", "widen", "--model", model, "--output", out, "--heads", "8", "--kv-heads", "4",
                              "--intermediate-size", "96", "--json"])
        #expect(g.status == 0, "\(g.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(g.out.utf8)) as? [String: Any])
        #expect(summary["preservesFunction"] as? Bool == true)
        #expect(FileManager.default.fileExists(atPath: out + "/scion_lineage.json"))
        let c = try runScion(["check", "preserved", "--before", model, "--after", out, "--ids", "1,5,17,42,99,3", "--json"])
        #expect(c.status == 0, "\(c.err)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as? [String: Any])
        #expect((r["max_abs_difference"] as? Double ?? 1) <= 1e-5)
        #expect((r["mean_kl"] as? Double ?? 1) <= 1e-9)
    }

    @Test func stackAndInsert() throws {
        let model = fixtures.appendingPathComponent("models/gpt2").path
        let a = temporaryFolder(), b = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        #expect(try runScion(["grow", "stack", "--model", model, "--output", a, "--factor", "2"]).status == 0)
        let i = try runScion(["grow", "insert", "--model", a, "--output", b, "--count", "2", "--json"])
        #expect(i.status == 0, "\(i.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as? [String: Any])
        #expect(summary["layers"] as? Int == 6)
        let c = try runScion(["check", "preserved", "--before", a, "--after", b, "--ids", "4,8,15,16,23,42", "--json"])
        let r = try #require(try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as? [String: Any])
        #expect((r["max_abs_difference"] as? Double ?? 1) <= 1e-5)
    }

    @Test func impossibleShapeNamesConstraintAndWritesNothing() throws {
        let out = temporaryFolder()
        let r = try runScion(["grow", "widen", "--model", fixtures.appendingPathComponent("models/llama").path,
                              "--output", out, "--heads", "5"])
        #expect(r.status != 0)
        #expect(r.err.contains("num_attention_heads % num_key_value_heads == 0"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func shrinkAndVocab() throws {
        let model = fixtures.appendingPathComponent("models/llama").path
        let a = temporaryFolder(), b = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let s = try runScion(["grow", "shrink", "--model", model, "--output", a, "--layers", "1", "--heads", "2",
                              "--kv-heads", "1", "--choice", "importance", "--json"])
        #expect(s.status == 0, "\(s.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(s.out.utf8)) as? [String: Any])
        #expect(summary["layers"] as? Int == 1 && summary["heads"] as? Int == 2)
        let v = try runScion(["grow", "vocab", "--model", model, "--output", b, "--tokens", "<a>,<b>,<c>"])
        #expect(v.status == 0, "\(v.err)")
        let c = try runScion(["check", "preserved", "--before", model, "--after", b, "--ids", "1,2,3,4", "--json"])
        let r = try #require(try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as? [String: Any])
        #expect((r["max_abs_difference"] as? Double ?? 1) <= 1e-6)
        #expect((r["mean_kl"] as? Double ?? 0) > 0)
    }

    @Test func learngene() throws {
        let model = fixtures.appendingPathComponent("models/gpt2").path
        let gene = temporaryFolder(), deep = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: gene); try? FileManager.default.removeItem(atPath: deep) }
        #expect(try runScion(["grow", "learngene", "--model", model, "--output", gene, "--extract"]).status == 0)
        let r = try runScion(["grow", "learngene", "--model", gene, "--output", deep, "--depth", "6", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(summary["layers"] as? Int == 6)
        let bad = try runScion(["grow", "learngene", "--model", model, "--output", deep + "-x", "--profile", "1,2,3"])
        #expect(bad.status != 0 && bad.err.contains("profile length == gene n_layer"))
    }

    /// The GPT-2 fixture (vocab_size 100) with a hand-made character-level BPE tokenizer (ids 0…32).
    func characterModel() throws -> String {
        let folder = temporaryFolder()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("models/gpt2/\(f)").path, toPath: folder + "/" + f)
        }
        let chars = "abcdefghijklmnopqrstuvwxyzäöüß.,".map(String.init)
        var vocab: [String: Int] = ["<unk>": 0]
        for (i, c) in chars.enumerated() { vocab[c] = i + 1 }
        let tokenizer: [String: Any] = [
            "version": "1.0", "normalizer": NSNull(), "post_processor": NSNull(), "decoder": NSNull(),
            "added_tokens": [["id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false,
                              "single_word": false]],
            "pre_tokenizer": ["type": "Whitespace"],
            "model": ["type": "BPE", "unk_token": "<unk>", "vocab": vocab, "merges": [] as [Any]],
        ]
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        let german = ["der hund läuft über die straße und die katze schläft unter dem tisch.",
                      "wir wollen heute abend ins kino gehen, wenn das wetter schlecht bleibt.",
                      "die kinder spielen im garten, während die eltern in der küche kochen."]
        try Array(repeating: german, count: 4).flatMap { $0 }.joined(separator: "\n")
            .write(toFile: folder + "/de.txt", atomically: true, encoding: .utf8)
        return folder
    }

    @Test func vocabMergesWithCW2VAndOFA() throws {
        let model = try characterModel()
        let a = temporaryFolder(), b = temporaryFolder()
        defer { for f in [model, a, b] { try? FileManager.default.removeItem(atPath: f) } }
        let r = try runScion(["grow", "vocab", "--model", model, "--output", a, "--train-merges", model + "/de.txt",
                              "--new-tokens", "12", "--init", "cw2v", "--cw2v-steps", "5", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/config.json"))) as? [String: Any])
        #expect(config["vocab_size"] as? Int == 112)
        let tok = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/tokenizer.json"))) as? [String: Any])
        let m = try #require(tok["model"] as? [String: Any])
        let vocab = try #require(m["vocab"] as? [String: Int])
        #expect(vocab["a"] == 1 && vocab["ß"] == 30 && vocab.count == 33 + 12)
        #expect(Set(vocab.values.filter { $0 >= 33 }) == Set(100..<112))
        #expect((m["merges"] as? [Any])?.count == 12)
        let lineage = try String(contentsOfFile: a + "/scion_lineage.json", encoding: .utf8)
        #expect(lineage.contains("cw2v"))
        let o = try runScion(["grow", "vocab", "--model", model, "--output", b, "--train-merges", model + "/de.txt",
                              "--new-tokens", "12", "--init", "ofa", "--ofa-rank", "8"])
        #expect(o.status == 0, "\(o.err)")
        #expect(o.out.contains("wrote"))

        let noCorpus = try runScion(["grow", "vocab", "--model", model, "--output", b + "-x", "--tokens", "ab,cd", "--init", "cw2v"])
        #expect(noCorpus.status != 0 && noCorpus.err.contains("--init cw2v needs text"))
        let noCount = try runScion(["grow", "vocab", "--model", model, "--output", b + "-x", "--train-merges", model + "/de.txt"])
        #expect(noCount.status != 0 && noCount.err.contains("--new-tokens"))
        let badInit = try runScion(["grow", "vocab", "--model", model, "--output", b + "-x", "--tokens", "ab", "--init", "zero"])
        #expect(badInit.status != 0 && badInit.err.contains("--init must be"))
        let badRank = try runScion(["grow", "vocab", "--model", model, "--output", b + "-x", "--tokens", "ab", "--init", "ofa",
                                    "--ofa-rank", "99"])
        #expect(badRank.status != 0 && badRank.err.contains("1 <= OFA rank <= min(V, C)"))
        #expect(!FileManager.default.fileExists(atPath: b + "-x"))
    }

    /// A 3-layer GPT-2 teacher trained two steps on the synthetic corpus (its tokenizer encodes any
    /// text), and a text file of blank-line-separated documents.
    static func teacherAndData(_ dir: String) throws -> (teacher: String, data: String) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ("model:\n  init: {architecture: gpt2, hiddenSize: 32, layers: 3, heads: 4, contextLength: 64}\n"
             + "data:\n  synthetic: {documents: 60, seed: 1, vocabularySize: 300}\n  sequenceLength: 16\n  batchSize: 2\n"
             + "steps: 2\noutput: \(dir)/teacher\n").write(toFile: dir + "/teacher.yaml", atomically: true, encoding: .utf8)
        let t = try runScion(["train", "--config", dir + "/teacher.yaml", "--json"])
        #expect(t.status == 0, "\(t.err)")
        let text = try String(contentsOf: fixtures.appendingPathComponent("tokenizers/corpus.txt"), encoding: .utf8)
        let docs = text.split(separator: ".").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { $0.count > 20 }
        try (Array(repeating: docs.joined(separator: ".\n\n"), count: 3).joined(separator: "\n\n"))
            .write(toFile: dir + "/data.txt", atomically: true, encoding: .utf8)
        return (dir + "/teacher/model", dir + "/data.txt")
    }

    @Test func learngeneTrainThenExpand() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (teacher, data) = try Self.teacherAndData(dir)
        let small = ["--steps", "3", "--batch-size", "2", "--sequence-length", "16"]
        let r = try runScion(["grow", "learngene", "train", "--teacher", teacher, "--data", data, "--method", "tleg",
                              "--output", dir + "/gene", "--json"] + small)
        #expect(r.status == 0, "\(r.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(report["steps"] as? Int == 3)
        #expect((report["geneParameters"] as? Int ?? 0) < (report["auxiliaryParameters"] as? Int ?? 0))
        for f in ["scion_learngene.json", "scion_lineage.json", "tokenizer.json", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/gene/" + f), "\(f)")
        }
        let e = try runScion(["grow", "learngene", "--model", dir + "/gene", "--output", dir + "/deep", "--depth", "5", "--json"])
        #expect(e.status == 0, "\(e.err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(e.out.utf8)) as? [String: Any])
        #expect(summary["layers"] as? Int == 5)
        let wrong = try runScion(["grow", "learngene", "--model", dir + "/gene", "--output", dir + "/x", "--profile", "2,3"])
        #expect(wrong.status != 0 && wrong.err.contains("TLEG gene"), "\(wrong.err)")
        // SWS: 3 stages over the teacher's 3 layers, expanded to [2, 2, 2].
        let s = try runScion(["grow", "learngene", "train", "--teacher", teacher, "--data", data, "--method", "sws", "--stages", "3",
                              "--output", dir + "/sws", "--json"] + small)
        #expect(s.status == 0, "\(s.err)")
        let x = try runScion(["grow", "learngene", "expand", "--model", dir + "/sws", "--output", dir + "/six", "--profile", "2,2,2",
                              "--json"])
        #expect(x.status == 0, "\(x.err)")
        #expect((try JSONSerialization.jsonObject(with: Data(x.out.utf8)) as? [String: Any])?["layers"] as? Int == 6)
        // Bad arguments are named.
        let cases: [([String], String)] = [
            (["--method", "foo"], "--method must be tleg or sws"),
            (["--method", "sws"], "needs exactly one of --stages or --profile"),
            (["--method", "tleg", "--stages", "2"], "TLEG takes --depth"),
            (["--method", "sws", "--stages", "5"], "depth >= stages"),
            (["--method", "tleg", "--depth", "1"], "tleg depth >= 2"),
            (["--method", "tleg", "--alpha", "2"], "--alpha must be in [0, 1]"),
        ]
        for (args, message) in cases {
            let b = try runScion(["grow", "learngene", "train", "--teacher", teacher, "--data", data, "--output", dir + "/bad"] + args)
            #expect(b.status != 0 && b.err.contains(message), "\(args): \(b.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }

    @Test func shrinkInStagesWithDistillation() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (teacher, data) = try Self.teacherAndData(dir)
        let r = try runScion(["grow", "shrink", "--model", teacher, "--output", dir + "/shrink", "--stages", "2,1",
                              "--distill-data", data, "--steps", "2", "--batch-size", "2", "--sequence-length", "16", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let stages = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(stages.map { $0["layers"] as? Int } == [2, 1])
        let lineage = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: dir + "/shrink/stage-2/model/scion_lineage.json"))) as? [String: Any])
        let ops = (lineage["steps"] as? [[String: Any]])?.map { $0["operator"] as? String }
        #expect(ops == ["train", "shrink", "train", "shrink", "train"])
        let cases: [([String], String)] = [
            (["--stages", "2,2", "--distill-data", data], "stage layer counts strictly decreasing"),
            (["--stages", "4", "--distill-data", data], "1 <= layers <= 3"),
            (["--stages", "2"], "give --distill-data"),
            (["--layers", "2", "--steps", "5"], "need --distill-data"),
            (["--stages", "2", "--layers", "1", "--distill-data", data], "drop --layers"),
        ]
        for (args, message) in cases {
            let b = try runScion(["grow", "shrink", "--model", teacher, "--output", dir + "/bad"] + args)
            #expect(b.status != 0 && b.err.contains(message), "\(args): \(b.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad/stage-1"))
    }

    @Test func stackWithConfigUsesGStackDefaults() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ("model:\n  init: {architecture: gpt2, hiddenSize: 16, layers: 1, heads: 2, contextLength: 32}\n"
             + "data:\n  synthetic: {documents: 40, seed: 1, vocabularySize: 300}\n  sequenceLength: 8\n  batchSize: 2\n"
             + "steps: 4\noutput: \(dir)/run\n").write(toFile: dir + "/small.yaml", atomically: true, encoding: .utf8)
        let r = try runScion(["grow", "stack", "--config", dir + "/small.yaml", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(report["growthStepFromRule"] as? Bool == true)
        #expect(report["growthStep"] as? Int == 2)          // the tiny model's rule step is clamped to half the run
        let final = try #require(report["finalPath"] as? String)
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: final + "/config.json"))) as? [String: Any])
        #expect(config["n_layer"] as? Int == 4)             // g = 4 by default
        #expect(FileManager.default.fileExists(atPath: dir + "/run/report.json"))
        let bad = try runScion(["grow", "stack", "--config", dir + "/small.yaml", "--model", "m"])
        #expect(bad.status != 0 && bad.err.contains("drop --model"), "\(bad.err)")
        let late = try runScion(["grow", "stack", "--config", dir + "/small.yaml", "--growth-step", "4", "--overwrite"])
        #expect(late.status != 0 && late.err.contains("1 <= growth_step < steps"), "\(late.err)")
    }
}

