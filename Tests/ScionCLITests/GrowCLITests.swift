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
}
