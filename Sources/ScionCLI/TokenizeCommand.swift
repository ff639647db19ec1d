// `scion tokenize`: token ids of text (or text of ids with --decode), with the tokenizer of a
// tokenizer.json, a model folder or a GGUF file. Wraps `Tokenizer.encode` / `Tokenizer.decode`.

import ArgumentParser
import Foundation
import ScionTokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Encode text to token ids, or decode ids to text.")

    @Option(help: "tokenizer.json, a model folder containing it, or a .gguf file.") var tokenizer: String
    @Option(help: "The text (or, with --decode, ids separated by spaces or commas).") var text: String?
    @Option(help: "A file; each line is one input.") var file: String?
    @Flag(help: "Decode ids to text.") var decode = false
    @Flag(help: "Do not add the tokenizer's special tokens (BOS/EOS, [CLS]/[SEP]).") var noSpecialTokens = false
    @Flag(help: "Apply the padding and truncation settings stored in the tokenizer.") var applyPadding = false
    @Flag(help: "One JSON array per input line.") var json = false

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give exactly one of --text or --file") }
    }

    func inputs() throws -> [String] {
        if let text { return [text] }
        guard let file, let data = FileManager.default.contents(atPath: file) else {
            throw CLIError("cannot read --file \(file ?? "")")
        }
        guard let s = String(data: data, encoding: .utf8) else { throw CLIError("\(file) is not UTF-8 text") }
        var lines = s.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    func run() throws {
        let tok = try TokenizerLoading.load(path: tokenizer)
        let lines = try inputs()
        if decode {
            var out: [String] = []
            for (n, line) in lines.enumerated() {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "[" || $0 == "]" })
                var ids: [Int] = []
                for p in parts {
                    guard let id = Int(p), id >= 0, id < tok.vocabularySize else {
                        throw CLIError("line \(n + 1): '\(p)' is not a token id below \(tok.vocabularySize)")
                    }
                    ids.append(id)
                }
                out.append(tok.decode(ids, skipSpecialTokens: noSpecialTokens))
            }
            if json { try printJSON(out) } else { out.forEach { print($0) } }
            return
        }
        let encoded = lines.map {
            tok.encode($0, addSpecialTokens: !noSpecialTokens, applyTruncation: applyPadding, applyPadding: applyPadding).ids
        }
        if json {
            for ids in encoded {
                print("[" + ids.map(String.init).joined(separator: ",") + "]")
            }
        } else {
            for ids in encoded { print(ids.map(String.init).joined(separator: " ")) }
        }
    }
}
