// Shared fixtures for the growth tests: the tiny transformers-made checkpoints in
// Tests/Fixtures/models, a tied-embedding Llama derived from the Llama fixture, fresh-model
// outputs loaded from folders, and closed-form parameter counts.

import Foundation
import ScionModels
import ScionNN
import ScionTensor
@testable import ScionGrowth

enum GrowthFixtures {
    static let modelsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    /// Token ids within every fixture's vocabulary (100) and positions (64).
    static let ids = [1, 5, 17, 42, 99, 3, 64, 8, 23, 77, 11, 50, 2, 31]

    /// A fresh temporary folder path (not created).
    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-growth-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("\(name)-\(UUID().uuidString)").path
    }

    /// The folder of a fixture: "gpt2", "llama", "qwen2", "bert", "bert_mlm", or "llama_tied" (made once).
    static func path(_ name: String) -> String {
        name == "llama_tied" ? tiedLlamaPath : modelsRoot.appendingPathComponent(name).path
    }

    /// The Llama fixture with `tie_word_embeddings` true and no `lm_head.weight`.
    static let tiedLlamaPath: String = {
        var c = try! Checkpoint(folder: modelsRoot.appendingPathComponent("llama").path)
        try! c.updateConfig { $0["tie_word_embeddings"] = true }
        c.tensors["lm_head.weight"] = nil
        let p = temporaryPath("llama_tied")
        try! c.save(to: p)
        return p
    }()

    static let names = ["gpt2", "llama", "qwen2", "llama_tied", "bert", "bert_mlm"]

    static func checkpoint(_ name: String) throws -> Checkpoint { try Checkpoint(folder: path(name)) }

    /// Outputs of the model in `folder`, loaded fresh with the ScionModels loader of its config.
    static func freshOutputs(_ folder: String) throws -> [[Float]] {
        let f = try HFFolder(path: folder)
        let model: any Module
        switch f.modelType {
        case "gpt2": model = try GPT2LMHeadModel.load(folder: f)
        case "bert":
            if f.architectures.contains("BertForMaskedLM") { model = try BertForMaskedLM.load(folder: f) } else { model = try BertModel.load(folder: f) }
        default: model = try LlamaForCausalLM.load(folder: f)
        }
        return try PreservationCheck.outputs(model, ids).0
    }

    /// Parameter count from the config alone (closed forms per family).
    static func closedFormParameterCount(_ c: Checkpoint) -> Int {
        let v = c.int("vocab_size")!, l = c.layerCount, cc = c.hiddenSize, f = c.intermediateSize
        let h = c.headCount, kv = c.keyValueHeadCount, d = c.headDimension
        switch c.family {
        case .gpt2:
            let p = c.int("n_positions")!
            let block = (cc * 3 * cc + 3 * cc) + (cc * cc + cc) + (cc * f + f) + (f * cc + cc) + 4 * cc
            return v * cc + p * cc + l * block + 2 * cc + (c.tiedEmbeddings ? 0 : v * cc)
        case .llama:
            let bias = c.int("num_hidden_layers") != nil && (c.config["model_type"] as? String) == "qwen2" ? h * d + 2 * kv * d : 0
            let block = cc * h * d + 2 * cc * kv * d + h * d * cc + 3 * cc * f + 2 * cc + bias
            return v * cc * (c.tiedEmbeddings ? 1 : 2) + l * block + cc
        case .bert:
            let p = c.int("max_position_embeddings")!, t = c.int("type_vocab_size")!
            let block = 3 * (cc * h * d + h * d) + (h * d * cc + cc) + 2 * cc + (cc * f + f) + (f * cc + cc) + 2 * cc
            let head = c.hasMaskedLMHead ? (cc * cc + cc) + 2 * cc + v : (cc * cc + cc)
            return (v + p + t) * cc + 2 * cc + l * block + head
        }
    }

    static func maxAbsDifference(_ a: [[Float]], _ b: [[Float]], width: Int? = nil) -> Double {
        var m = 0.0
        for (ra, rb) in zip(a, b) {
            for j in 0..<(width ?? ra.count) { m = max(m, abs(Double(ra[j]) - Double(rb[j]))) }
        }
        return m
    }
}
