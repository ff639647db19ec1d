// The crash test: the built `scion` binary trains a tiny config, is killed (SIGKILL) at random
// moments after checkpoints exist, each time leaving a readable latest checkpoint, and is resumed;
// the final loss curve equals an uninterrupted run's bit for bit.

import Foundation
import Testing
import ScionCheckpoint
@testable import ScionTraining

/// The built `scion` executable beside the test runner.
func scionExecutable() -> URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // The runner may sit inside a bundle folder (macOS .xctest/Contents/MacOS); walk up to find `scion`.
    for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("scion").path) {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("scion")
}

func startScion(_ arguments: [String]) throws -> Process {
    let p = Process()
    p.executableURL = scionExecutable()
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
}

func trainLosses(_ dir: URL) throws -> [UInt64] {
    let text = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").compactMap { line in
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard obj?["kind"] as? String == "train" else { return nil }
        return (obj?["loss"] as? NSNumber)?.doubleValue.bitPattern
    }
}

@Suite(.serialized) struct KillResumeTests {
    static let config = """
    model:
      init: {architecture: gpt2, hiddenSize: 16, layers: 1, heads: 2, contextLength: 16}
    data:
      synthetic: {documents: 60, vocabularySize: 260}
      sequenceLength: 8
      batchSize: 2
      validationFraction: 0.1
    optimizer: {type: adamw, gradientClip: 1.0}
    schedule: {type: cosine, peak: 3.0e-3, minimum: 3.0e-4, steps: 24}
    steps: 24
    evalEvery: 6
    evalBatches: 1
    checkpointEvery: 2
    keepCheckpoints: 2
    threads: 1
    """

    @Test func killedRunResumesToTheSameLossCurve() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("run.yaml")
        try Self.config.write(to: file, atomically: true, encoding: .utf8)
        let straight = root.appendingPathComponent("straight"), killed = root.appendingPathComponent("killed")

        let reference = try startScion(["train", "--config", file.path, "--output", straight.path])
        reference.waitUntilExit()
        #expect(reference.terminationStatus == 0)

        let store = CheckpointStore(directory: killed.appendingPathComponent("checkpoints"))
        var g = SystemRandomNumberGenerator()
        var process = try startScion(["train", "--config", file.path, "--output", killed.path, "--step-delay-ms", "40"])
        var kills = 0
        var lastStep = 0
        for _ in 0..<2 {
            // Wait for a newer checkpoint, then kill at a random moment (often mid-write).
            let deadline = Date().addingTimeInterval(60)
            while (store.latestStep() ?? 0) <= lastStep && process.isRunning && Date() < deadline { usleep(5_000) }
            usleep(UInt32.random(in: 0...150_000, using: &g))
            guard process.isRunning else { break }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            kills += 1
            let latest = try #require(store.latest(), "a checkpoint exists after the kill")
            let loaded = try CheckpointStore.read(latest)          // never torn
            #expect(loaded.state.step == store.latestStep())
            lastStep = loaded.state.step
            process = try startScion(["train", "--resume", killed.path, "--step-delay-ms", "40"])
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(kills >= 1)
        let a = try trainLosses(straight), b = try trainLosses(killed)
        #expect(a.count == 24)
        #expect(a == b)
    }
}

/// Runs `scion` to completion; returns (status, stdout, stderr).
func runScion(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = scionExecutable()
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct TrainCommandTests {
    @Test func badConfigFailsBeforeAnyWorkNamingTheKey() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("bad.yaml")
        try (KillResumeTests.config + "\noptimizer: {type: adamw, beta3: 0.9}\n")
            .replacingOccurrences(of: "optimizer: {type: adamw, gradientClip: 1.0}\n", with: "")
            .write(to: file, atomically: true, encoding: .utf8)
        let out = root.appendingPathComponent("out")
        let r = try runScion(["train", "--config", file.path, "--output", out.path])
        #expect(r.status != 0)
        #expect(r.err.contains("optimizer.beta3") && r.err.contains("unknown key"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let t = try runScion(["train", "--config", file.path, "--set", "steps=many"])
        #expect(t.err.contains("steps") && t.err.contains("expected an integer"), "\(t.err)")
    }

    @Test func unreadableDataNamesFileAndLine() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("sft.jsonl")
        try "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"\n".write(to: data, atomically: true, encoding: .utf8)
        let file = root.appendingPathComponent("run.yaml")
        let yaml = KillResumeTests.config.replacingOccurrences(
            of: "  synthetic: {documents: 60, vocabularySize: 260}",
            with: "  sources: [{path: \(data.path), format: promptCompletion}]\n  tokenizer: synthetic")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let r = try runScion(["train", "--config", file.path, "--output", root.appendingPathComponent("out").path])
        #expect(r.status != 0)
        #expect(r.err.contains("\(data.path):2"), "\(r.err)")
    }

    @Test func outputHoldingAnotherRunIsRefused() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: out.appendingPathComponent("config.json"))
        let file = root.appendingPathComponent("run.yaml")
        try KillResumeTests.config.write(to: file, atomically: true, encoding: .utf8)
        let r = try runScion(["train", "--config", file.path, "--output", out.path])
        #expect(r.status != 0)
        #expect(r.err.contains("different run") && r.err.contains("--overwrite"), "\(r.err)")
    }
}

extension TrainCommandTests {
    @Test func continuesPretrainingFromTheSavedHFFolder() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("run.yaml")
        try KillResumeTests.config.write(to: file, atomically: true, encoding: .utf8)
        let first = root.appendingPathComponent("first"), second = root.appendingPathComponent("second")
        let a = try runScion(["train", "--config", file.path, "--output", first.path, "--set", "steps=12", "--json"])
        #expect(a.status == 0, "\(a.err)")
        let model = first.appendingPathComponent("model")
        for name in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: model.appendingPathComponent(name).path), "\(name)")
        }
        let summaryA = try JSONDecoder().decode(RunSummary.self, from: Data(a.out.utf8))
        // Continue from the HF folder (its own tokenizer), with a re-warmed schedule.
        let b = try runScion(["train", "--config", file.path, "--output", second.path, "--json",
                              "--set", "model={from: \(model.path)}", "--set", "steps=4"])
        #expect(b.status == 0, "\(b.err)")
        let summaryB = try JSONDecoder().decode(RunSummary.self, from: Data(b.out.utf8))
        #expect(summaryB.parameters == summaryA.parameters)
        #expect(try #require(summaryB.initialLoss) < (try #require(summaryA.initialLoss)) - 0.3)
        #expect(summaryB.flops == 6 * Double(summaryB.parameters) * Double(summaryB.tokens))
        #expect(FileManager.default.fileExists(atPath: second.appendingPathComponent("report.html").path))
        // Lineage: the first run's model is a "train" step from its fresh init; the second chains onto it.
        let firstLineage = try #require(try Lineage.read(folder: model.path))
        #expect(firstLineage.steps.map(\.operatorName) == ["train"])
        #expect(firstLineage.steps[0].parameters["steps"] == "12")
        let chain = try #require(try Lineage.read(folder: second.appendingPathComponent("model").path))
        #expect(chain.steps.map(\.operatorName) == ["train", "train"])
        #expect(chain.steps[1].parentSHA256 == (try Lineage.weightsDigest(folder: model.path)))
        #expect(chain.steps[1].parentPath == model.path)
        #expect(chain.steps[1].parameters["steps"] == "4")
        #expect(chain.steps[1].parameters["tokens"] == "\(summaryB.tokens)")
    }
}
