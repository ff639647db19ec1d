// Finds and loads a tokenizer for the CLI: a tokenizer.json file, a model folder holding one, or a
// GGUF file's `tokenizer.ggml.*` metadata (mapped onto `GGUFTokenizerMetadata`).

import Foundation
import ScionCheckpoint
import ScionModels
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

    static func fromGGUF(_ file: GGUFFile) throws -> Tokenizer {
        try Tokenizer(gguf: GGUFTokenizerLoading.metadata(of: file))
    }
}
