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
}
