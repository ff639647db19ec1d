// `scion inspect PATH`: tensors (name, dtype, shape, bytes), metadata and a tokenizer summary of a
// safetensors file or folder or a GGUF file. Wraps `CheckpointSummary.load(path:)`.

import ArgumentParser
import Foundation
import ScionCheckpoint
import ScionTokenizers

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "List a checkpoint's tensors, metadata and tokenizer.")

    @Argument(help: "A .safetensors file, a folder of them (with model.safetensors.index.json), or a .gguf file.")
    var path: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Show at most this many elements of long metadata arrays.") var maxArray = 16

    struct TokenizerSummary: Codable { var vocabularySize: Int; var specialTokens: [String]; var source: String }
    struct Output: Codable { var checkpoint: CheckpointSummary; var tokenizer: TokenizerSummary? }

    func validate() throws {
        guard maxArray >= 0 else { throw ValidationError("--max-array must be ≥ 0, got \(maxArray)") }
    }

    func tokenizerSummary() -> TokenizerSummary? {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        let candidate = TokenizerLoading.isGGUF(path) ? path : (folder as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: candidate), let t = try? TokenizerLoading.load(path: candidate) else {
            return nil
        }
        return TokenizerSummary(vocabularySize: t.vocabularySize,
                                specialTokens: t.specialAndAddedTokens.filter { $0.special }.map { $0.content },
                                source: candidate)
    }

    func run() throws {
        let summary = try CheckpointSummary.load(path: path, maxArrayCount: maxArray)
        let tok = tokenizerSummary()
        if json { try printJSON(Output(checkpoint: summary, tokenizer: tok)); return }
        print("\(summary.format.rawValue) \(summary.path)")
        print("\(summary.tensors.count) tensors, \(summary.parameterCount) parameters, \(summary.totalByteCount) bytes")
        let keys = summary.metadata.keys.sorted()
        if !keys.isEmpty {
            print("\nmetadata:")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for k in keys {
                let v = summary.metadata[k].flatMap { try? encoder.encode($0) }.flatMap { String(data: $0, encoding: .utf8) } ?? "?"
                print("  \(k) = \(v.count > 160 ? String(v.prefix(157)) + "..." : v)")
            }
        }
        print("\ntensors:")
        let width = summary.tensors.map { $0.name.count }.max() ?? 0
        for t in summary.tensors {
            print("  \(t.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(t.dtype)  \(t.shape)  \(t.byteCount) B")
        }
        if let tok {
            print("\ntokenizer (\(tok.source)): \(tok.vocabularySize) tokens; special: \(tok.specialTokens.prefix(20).joined(separator: " "))")
        }
    }
}
