// Loads a model, its tokenizer and chat template from an HF folder or a GGUF file, after checking
// that it fits in memory. The CLI and the trainer go through here.

import Foundation
import ScionCheckpoint
import ScionNN
import ScionTensor
import ScionTokenizers

/// A causal LM with what is needed to talk to it.
public struct LoadedLanguageModel {
    public let model: any LanguageModel
    public let tokenizer: Tokenizer?
    public let chatTemplate: ChatTemplate?
    /// Token ids that end generation.
    public let eosTokenIDs: [Int]
    /// Where it came from.
    public let source: String
}

/// An encoder with its tokenizer.
public struct LoadedEncoder {
    public let model: any EncoderModel
    public let tokenizer: Tokenizer?
    public let source: String
}

/// Loading entry points.
public enum ModelLoader {
    static func isGGUF(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// Bytes the weights take once loaded: GGUF blocks stay as stored; safetensors floats become
    /// float32 (16-bit tensors double).
    static func loadedWeightBytes(gguf file: GGUFFile) -> Int { file.tensors.reduce(0) { $0 + $1.byteCount } }

    static func loadedWeightBytes(folder: HFFolder) throws -> Int {
        let checkpoint = try SafetensorsCheckpoint(path: folder.path)
        var total = 0
        for file in checkpoint.files {
            for t in file.tensors {
                let widened = t.dtype == .f16 || t.dtype == .bf16
                total += widened ? 2 * t.byteCount : t.byteCount
            }
        }
        return total
    }

    /// Refuses, before anything is built, a model whose weights (plus a tenth for activations and
    /// the cache of a short context) will not fit in the memory available now.
    static func checkMemory(weightBytes: Int) throws {
        try MemoryEstimate(weightBytes: weightBytes, kvCacheBytes: 0, activationBytes: weightBytes / 10).check()
    }

    /// Loads a causal LM from an HF folder or a GGUF file.
    public static func loadLanguageModel(path: String) throws -> LoadedLanguageModel {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelLoadError.missingFile(path) }
        if isGGUF(path) {
            let file = try GGUFFile(path: path)
            try checkMemory(weightBytes: loadedWeightBytes(gguf: file))
            let arch = file.architecture ?? "?"
            guard let build = Architectures.causalFromGGUF[arch] else {
                throw ModelLoadError.unknownArchitecture(arch, supported: Architectures.supported)
            }
            let model = try build(file)
            let meta = try GGUFTokenizerLoading.metadata(of: file)
            let tokenizer = try Tokenizer(gguf: meta)
            var template: ChatTemplate? = nil
            if let source = file.metadata["tokenizer.chat_template"]?.stringValue {
                let bos = meta.bosTokenID.flatMap { tokenizer.token(forID: $0) }
                let eos = meta.eosTokenID.flatMap { tokenizer.token(forID: $0) }
                template = try ChatTemplate(source: source, bosToken: bos, eosToken: eos)
            }
            return LoadedLanguageModel(model: model, tokenizer: tokenizer, chatTemplate: template,
                                       eosTokenIDs: meta.eosTokenID.map { [$0] } ?? [], source: path)
        }
        let folder = try HFFolder(path: path)
        let type = folder.modelType ?? folder.architectures.first ?? "?"
        guard let build = Architectures.causalFromFolder[type] else {
            throw ModelLoadError.unknownArchitecture(type, supported: Architectures.supported)
        }
        try checkMemory(weightBytes: loadedWeightBytes(folder: folder))
        return LoadedLanguageModel(model: try build(folder), tokenizer: try folder.tokenizer(),
                                   chatTemplate: try folder.chatTemplate(), eosTokenIDs: folder.eosTokenIDs, source: path)
    }

    /// Loads an encoder (BERT) from an HF folder.
    public static func loadEncoder(path: String) throws -> LoadedEncoder {
        let folder = try HFFolder(path: path)
        let type = folder.modelType ?? "?"
        guard let build = Architectures.encodersFromFolder[type] else {
            throw ModelLoadError.unknownArchitecture(type, supported: Architectures.supported)
        }
        try checkMemory(weightBytes: loadedWeightBytes(folder: folder))
        return LoadedEncoder(model: try build(folder), tokenizer: try folder.tokenizer(), source: path)
    }
}

/// GGUF `tokenizer.ggml.*` metadata → ``GGUFTokenizerMetadata``.
public enum GGUFTokenizerLoading {
    public static func metadata(of file: GGUFFile) throws -> GGUFTokenizerMetadata {
        let m = file.metadata
        guard let model = m["tokenizer.ggml.model"]?.stringValue,
              let tokens = m["tokenizer.ggml.tokens"]?.arrayValue?.compactMap({ $0.stringValue }) else {
            throw ModelLoadError.invalidConfig(path: file.path, field: "tokenizer.ggml.model/tokens", reason: "missing")
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
}
