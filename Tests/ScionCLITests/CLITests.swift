// End-to-end tests of the `scion` executable: each runs the built binary as a user would and checks
// its output and exit status (JSON outputs parsed, errors named).

import Foundation
import Testing

/// Runs the built `scion` binary (beside the test runner) and returns (status, stdout, stderr).
func runScion(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let runner = URL(fileURLWithPath: CommandLine.arguments[0])
    var dir = runner.deletingLastPathComponent()
    // The runner may sit inside a bundle folder (macOS .xctest/Contents/MacOS); walk up to find `scion`.
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("scion").path) {
        dir = dir.deletingLastPathComponent()
    }
    let process = Process()
    process.executableURL = dir.appendingPathComponent("scion")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

@Suite struct CLITests {
    @Test func doctorReportsBLAS() throws {
        let r = try runScion(["doctor", "--json", "--no-measure"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(obj["version"] as? String == "0.1.0")
        #expect(obj["blasBackend"] is String)
        #expect((obj["threads"] as? Int ?? 0) >= 1)
        #if os(Linux)
        // With OpenBLAS installed (Scripts/setup.sh), the loaded kernel is named.
        if obj["blasBackend"] as? String == "OpenBLAS" { #expect(obj["blasKernel"] is String) }
        #endif
    }

    @Test func demoLearns() throws {
        let r = try runScion(["demo", "--steps", "300", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let first = try #require(obj["initialLoss"] as? Double), last = try #require(obj["finalLoss"] as? Double)
        #expect(last < first)
    }

    @Test func badArgumentsFailWithAMessage() throws {
        let r = try runScion(["demo", "--steps", "0"])
        #expect(r.status != 0)
        #expect(r.err.contains("--steps must be positive"))
        let t = try runScion(["tokenize", "--tokenizer", "/no/such/file", "--text", "x"])
        #expect(t.status != 0)
        #expect(t.err.contains("no such file or folder: /no/such/file"))
        let both = try runScion(["tokenize", "--tokenizer", "x"])
        #expect(both.status != 0)
        #expect(both.err.contains("exactly one of --text or --file"))
    }

    @Test func tokenizeRoundTrips() throws {
        let tok = fixtures.appendingPathComponent("tokenizers/gpt2/tokenizer.json").path
        let e = try runScion(["tokenize", "--tokenizer", tok, "--text", "Hello, world! 123", "--json"])
        #expect(e.status == 0, "\(e.err)")
        let ids = try #require(try JSONSerialization.jsonObject(with: Data(e.out.utf8)) as? [Int])
        #expect(!ids.isEmpty)
        let d = try runScion(["tokenize", "--tokenizer", tok, "--decode", "--text", ids.map(String.init).joined(separator: " ")])
        #expect(d.status == 0)
        #expect(d.out == "Hello, world! 123\n")
    }

    @Test func inspectSafetensors() throws {
        let file = fixtures.appendingPathComponent("formats/all_dtypes.safetensors").path
        let r = try runScion(["inspect", file, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let ckpt = try #require(obj["checkpoint"] as? [String: Any])
        #expect(ckpt["format"] as? String == "safetensors")
        #expect(((ckpt["tensors"] as? [Any])?.count ?? 0) > 0)
        let bad = try runScion(["inspect", "/no/such/file.safetensors"])
        #expect(bad.status != 0)
    }
}
