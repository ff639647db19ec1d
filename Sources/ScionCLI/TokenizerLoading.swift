// Finds and loads a tokenizer for the CLI: a tokenizer.json file, a model folder holding one, or a
// GGUF file's `tokenizer.ggml.*` metadata (mapped onto `GGUFTokenizerMetadata`).

import Foundation
import ScionCheckpoint
import ScionTokenizers

/// A path given on the command line that does not hold a usable tokenizer.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum TokenizerLoading {
    /// Loads the tokenizer at `path` (tokenizer.json, a folder containing it, or a GGUF file).
    static func load(path: String) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError("no such file or folder: \(path)")
        }
        if isDirectory.boolValue {
            let json = (path as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json) else {
                throw CLIError("\(path) holds no tokenizer.json")
            }
            return try Tokenizer(contentsOf: URL(fileURLWithPath: json))
        }
        if isGGUF(path) { return try fromGGUF(GGUFFile(path: path)) }
        return try Tokenizer(contentsOf: URL(fileURLWithPath: path))
    }

    static func isGGUF(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// The GGUF `tokenizer.ggml.*` keys as tokenizer metadata.
    static func metadata(of file: GGUFFile) throws -> GGUFTokenizerMetadata {
        let m = file.metadata
        guard let model = m["tokenizer.ggml.model"]?.stringValue else {
            throw CLIError("\(file.path): no tokenizer.ggml.model in the GGUF metadata")
        }
        guard let tokens = m["tokenizer.ggml.tokens"]?.arrayValue?.compactMap({ $0.stringValue }) else {
            throw CLIError("\(file.path): no tokenizer.ggml.tokens in the GGUF metadata")
        }
        func int(_ k: String) -> Int? { m[k]?.intValue }
        return GGUFTokenizerMetadata(
            model: model, pre: m["tokenizer.ggml.pre"]?.stringValue, tokens: tokens,
            tokenTypes: m["tokenizer.ggml.token_type"]?.arrayValue?.compactMap { $0.intValue.map(Int32.init) },
            merges: m["tokenizer.ggml.merges"]?.arrayValue?.compactMap { $0.stringValue },
            scores: m["tokenizer.ggml.scores"]?.arrayValue?.compactMap { $0.doubleValue.map(Float.init) },
            bosTokenID: int("tokenizer.ggml.bos_token_id"), eosTokenID: int("tokenizer.ggml.eos_token_id"),
            unknownTokenID: int("tokenizer.ggml.unknown_token_id"), paddingTokenID: int("tokenizer.ggml.padding_token_id"),
            addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue ?? false,
            addEOS: m["tokenizer.ggml.add_eos_token"]?.boolValue ?? false,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.boolValue ?? false)
    }

    static func fromGGUF(_ file: GGUFFile) throws -> Tokenizer {
        try Tokenizer(gguf: metadata(of: file))
    }
}
