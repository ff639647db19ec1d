// A Hugging Face model folder: config.json, safetensors weights (single file or sharded with an
// index), and optionally tokenizer.json / tokenizer_config.json / generation_config.json. Reading
// is lazy (tensors are memory-mapped); saving writes a folder transformers loads, atomically.

import Foundation
import ScionCheckpoint
import ScionTensor
import ScionTokenizers

/// Why a model could not be loaded.
public enum ModelLoadError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case invalidConfig(path: String, field: String, reason: String)
    case unknownArchitecture(String, supported: [String])
    case insufficientMemory(needed: Int, available: Int)
    case checkpointMismatch(String)

    public var description: String {
        switch self {
        case .missingFile(let p): return "missing file: \(p)"
        case .invalidConfig(let p, let f, let r): return "\(p): field '\(f)': \(r)"
        case .unknownArchitecture(let a, let s): return "unknown architecture '\(a)'; supported: \(s.joined(separator: ", "))"
        case .insufficientMemory(let n, let a):
            return String(format: "the model needs about %.2f GB but only %.2f GB is available", Double(n) / 1e9, Double(a) / 1e9)
        case .checkpointMismatch(let m): return m
        }
    }
}

/// A Hugging Face model folder on disk.
public struct HFFolder: Sendable {
    public let path: String
    /// The raw config.json.
    public let configData: Data

    /// Opens `path`, which must hold a config.json.
    public init(path: String) throws {
        self.path = path
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ModelLoadError.missingFile(configPath) }
        configData = data
    }

    /// `model_type` from config.json.
    public var modelType: String? { configObject()?["model_type"] as? String }
    /// `architectures` from config.json.
    public var architectures: [String] { configObject()?["architectures"] as? [String] ?? [] }

    func configObject() -> [String: Any]? { (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] }

    /// Decodes config.json into `T` with HF field names (snake_case → camelCase); errors name the field
    /// as config.json spells it (snake_case).
    public func decodeConfig<T: Decodable>(_ type: T.Type) throws -> T {
        func field(_ path: [any CodingKey]) -> String { path.map { Self.snakeCased($0.stringValue) }.joined(separator: ".") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let file = (path as NSString).appendingPathComponent("config.json")
        do {
            return try decoder.decode(T.self, from: configData)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelLoadError.invalidConfig(path: file, field: field([key]), reason: "missing")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw ModelLoadError.invalidConfig(path: file, field: field(ctx.codingPath),
                                               reason: "expected \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw ModelLoadError.invalidConfig(path: file, field: field(ctx.codingPath),
                                               reason: "expected \(t), found null")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ModelLoadError.invalidConfig(path: file, field: field(ctx.codingPath),
                                               reason: ctx.debugDescription)
        }
    }

    /// A Swift property name back in config.json's spelling: "nEmbd" → "n_embd" (the inverse of
    /// `.convertFromSnakeCase` for HF names).
    static func snakeCased(_ name: String) -> String {
        guard name.contains(where: { $0.isUppercase }), !name.contains(" ") else { return name }
        var out = ""
        for ch in name {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }

    /// Every tensor of the folder's safetensors weights, memory-mapped.
    public func tensors() throws -> [String: Tensor] {
        let checkpoint = try SafetensorsCheckpoint(path: path)
        var out: [String: Tensor] = [:]
        for name in checkpoint.tensorNames { out[name] = try checkpoint.tensor(named: name) }
        return out
    }

    /// The folder's tokenizer.json, if present.
    public func tokenizer() throws -> Tokenizer? {
        let p = (path as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        return try Tokenizer(contentsOf: URL(fileURLWithPath: p))
    }

    /// The chat template from tokenizer_config.json, if present.
    public func chatTemplate() throws -> ChatTemplate? {
        let p = (path as NSString).appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: p),
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], obj["chat_template"] != nil else { return nil }
        return try ChatTemplate.fromTokenizerConfig(jsonData: data)
    }

    /// End-of-sequence token ids from generation_config.json or config.json (`eos_token_id`, int or list).
    public var eosTokenIDs: [Int] {
        let gen = (path as NSString).appendingPathComponent("generation_config.json")
        for obj in [FileManager.default.contents(atPath: gen).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] },
                    configObject()] {
            if let v = obj?["eos_token_id"] as? Int { return [v] }
            if let v = obj?["eos_token_id"] as? [Int] { return v }
        }
        return []
    }

    /// Writes an HF folder: config.json and model.safetensors (plus extra files, e.g. tokenizer.json),
    /// into a temporary sibling folder first, then moved into place, so a crash never leaves half a model.
    public static func save(to path: String, config: Data, tensors: [String: Tensor], extraFiles: [String: Data] = [:],
                            overwrite: Bool = false) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !overwrite {
            throw CheckpointError.io(path: path, reason: "already exists (pass overwrite to replace it)")
        }
        let parent = (path as NSString).deletingLastPathComponent
        let tmp = (parent.isEmpty ? "." : parent) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            try config.write(to: URL(fileURLWithPath: tmp + "/config.json"))
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: tmp + "/model.safetensors")
            for (name, data) in extraFiles { try data.write(to: URL(fileURLWithPath: tmp + "/" + name)) }
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            try fm.moveItem(atPath: tmp, toPath: path)
        } catch {
            try? fm.removeItem(atPath: tmp)
            if let e = error as? CheckpointError { throw e }
            throw CheckpointError.io(path: path, reason: "\(error)")
        }
    }
}
