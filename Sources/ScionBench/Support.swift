// Helpers shared by the tokenizer and safetensors benchmarks: locating the repository (scripts and
// fixtures), running the Python references, and a sink that keeps measured reads from being optimised away.

import Foundation

/// Accumulates checksums so the compiler cannot drop the reads being timed.
nonisolated(unsafe) var benchSink: UInt64 = 0

/// The repository root: the current directory when it holds the bench scripts, else the one this file was built from.
func repositoryRoot() -> URL {
    let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    if FileManager.default.fileExists(atPath: cwd.appendingPathComponent("Scripts/bench").path) { return cwd }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A scratch folder for generated benchmark inputs (kept between runs).
func benchScratchDirectory() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-bench")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// The outcome of running a Python reference script.
struct PythonResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The last line of stdout parsed as a JSON object, if it is one.
    var json: [String: Any]? {
        guard let line = stdout.split(separator: "\n").last,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return object
    }
}

/// Runs `python script arguments…` with HF pinned to one thread; nil when the interpreter cannot be started.
func runPython(_ python: String, _ arguments: [String]) -> PythonResult? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["RAYON_NUM_THREADS"] = "1"
    environment["TOKENIZERS_PARALLELISM"] = "false"
    environment["OMP_NUM_THREADS"] = "1"
    process.environment = environment
    // stderr goes to a scratch file, so a chatty reference cannot block on a full pipe.
    let errURL = benchScratchDirectory().appendingPathComponent("python-stderr.txt")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    guard let errHandle = try? FileHandle(forWritingTo: errURL) else { return nil }
    defer { try? errHandle.close() }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = errHandle
    do { try process.run() } catch { return nil }
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let stderrData = (try? Data(contentsOf: errURL)) ?? Data()
    return PythonResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                        stderr: String(decoding: stderrData, as: UTF8.self))
}

/// The median of `values` (which must be non-empty).
func medianOf(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Seconds taken by `body`.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

/// The last few lines of a reference's stderr, for a "skipped" note.
func tail(_ text: String, lines: Int = 2) -> String {
    text.split(separator: "\n").suffix(lines).joined(separator: " / ")
}
