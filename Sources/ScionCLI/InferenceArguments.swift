// Shared pieces of the inference commands (generate, chat, eval, embed): the sampling options
// group, loading a causal LM with its tokenizer through `ModelLoader`, reading input lines, and
// unbuffered writes for streamed text.

import ArgumentParser
import Foundation
import ScionModels
import ScionTensor
import ScionTokenizers

/// `--temperature --top-k --top-p --min-p --repetition-penalty --seed`, mapped onto `SamplingOptions`.
struct SamplingArguments: ParsableArguments {
    @Option(help: "Sampling temperature; 0 picks the most likely token (greedy).") var temperature: Double = 1
    @Option(name: .customLong("top-k"), help: "Keep only the K most likely tokens (0: off).") var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Keep the smallest set of tokens whose probability reaches P (1: off).")
    var topP: Double = 1
    @Option(name: .customLong("min-p"), help: "Drop tokens below P × the top probability (0: off).") var minP: Double = 0
    @Option(name: .customLong("repetition-penalty"), help: "Penalize tokens already present (1: off).")
    var repetitionPenalty: Double = 1
    @Option(help: "Random seed; the same seed gives the same text.") var seed: UInt64 = 0

    var options: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, minP: minP,
                        repetitionPenalty: repetitionPenalty, seed: seed)
    }

    func validate() throws {
        do { try options.validate() } catch let e as GenerationError { throw ValidationError("\(e)") }
    }
}

/// `--threads N`: the threads Scion's kernels and GEMMs use (default: all cores).
struct ThreadArguments: ParsableArguments {
    @Option(help: "Threads for kernels and matrix products (default: all cores).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Sets ``ComputeSettings/threadCount`` when `--threads` was given.
    func apply() { if let threads { ComputeSettings.threadCount = threads } }
}

/// Loading and I/O helpers for the inference commands.
enum InferenceSupport {
    /// A causal LM with a tokenizer (an error if the checkpoint carries none).
    static func loadLanguageModel(path: String) throws -> (loaded: LoadedLanguageModel, tokenizer: Tokenizer) {
        let loaded = try ModelLoader.loadLanguageModel(path: path)
        guard let tokenizer = loaded.tokenizer else { throw CLIError("\(path) has no tokenizer") }
        return (loaded, tokenizer)
    }

    /// The lines of a UTF-8 file (a final empty line dropped).
    static func lines(ofFile path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read --file \(path)") }
        guard let s = String(data: data, encoding: .utf8) else { throw CLIError("\(path) is not UTF-8 text") }
        var lines = s.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Writes text to stdout at once (no buffering), for streamed tokens.
    static func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

    /// Prints one compact JSON object on a line (JSON Lines).
    static func printJSONLine<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
    }
}
