// `scion adapter inspect | merge | export`: look inside a PEFT adapter folder, merge one into its base
// model and save it, or check an adapter against its base and rewrite it in PEFT's canonical form.
// Wraps ScionAdapters' `PEFTFormat` and `Injection`. Also the `--adapter DIR` loading shared by
// generate, chat and eval.
// Merge output follows the base: an HF folder base gives an HF folder (float weights); a GGUF base gives
// a GGUF file in which the merged matrices are re-quantized in their own formats (Q8_0/Q4_0/Q4_1) and
// everything else is copied as is (`GGUFMerge`), so the result stays as small as the base and
// llama.cpp can load it.

import ArgumentParser
import Foundation
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionNN

struct AdapterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter", abstract: "Inspect, merge or export PEFT adapters (LoRA, DoRA, IA3, AdaLoRA).",
        subcommands: [Inspect.self, Merge.self, Export.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an adapter's method, targets, ranks and size.")
        @Argument(help: "An adapter folder (adapter_config.json + adapter_model.safetensors).") var directory: String
        @Flag(help: "Print as JSON.") var json = false

        struct Output: Encodable {
            var peftType: String, baseModel: String?, modules: [String], ranks: [String: Int], tensors: Int, parameters: Int
            enum CodingKeys: String, CodingKey {
                case peftType = "peft_type", baseModel = "base_model_name_or_path", modules, ranks, tensors, parameters
            }
        }

        func run() throws {
            let config = try PEFTFormat.readConfig(directory: directory)
            let file = try SafetensorsFile(path: directory + "/" + PEFTFormat.weightsFile)
            var modules = Set<String>(), ranks: [String: Int] = [:]
            for info in file.tensors {
                let key = info.name.hasPrefix(PEFTFormat.keyPrefix) ? String(info.name.dropFirst(PEFTFormat.keyPrefix.count)) : info.name
                guard let suffix = config.parameterNames.first(where: { key.hasSuffix("." + $0) }) else { continue }
                let module = String(key.dropLast(suffix.count + 1))
                modules.insert(module)
                if suffix.hasPrefix("lora_A") { ranks[module] = info.shape.first }
            }
            for info in file.tensors {
                let key = info.name.hasPrefix(PEFTFormat.keyPrefix) ? String(info.name.dropFirst(PEFTFormat.keyPrefix.count)) : info.name
                guard let suffix = config.embeddingParameterNames.first(where: { key.hasSuffix("." + $0) }) else { continue }
                let module = String(key.dropLast(suffix.count + 1))
                modules.insert(module)
                if suffix == config.embeddingRankTensorName { ranks[module] = info.shape.first }
            }
            let out = Output(peftType: config.peftType, baseModel: config.baseModelNameOrPath, modules: modules.sorted(),
                             ranks: ranks, tensors: file.tensors.count, parameters: file.tensors.reduce(0) { $0 + $1.elementCount })
            if json { try printJSON(out); return }
            print("\(out.peftType) adapter, \(out.tensors) tensors, \(out.parameters) parameters")
            if let b = out.baseModel { print("base model: \(b)") }
            for m in out.modules { print("  \(m)" + (ranks[m].map { "  r=\($0)" } ?? "")) }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge an adapter into its base model: an HF folder base gives an HF folder, a GGUF base a GGUF file.",
            discussion: """
            A GGUF base keeps its quantization: the merged matrices are re-quantized in their own formats
            (Q8_0, Q4_0, Q4_1; F32/F16/BF16 converted), every other tensor and all metadata are copied.
            """)
        @Option(help: "The base model: a Hugging Face folder or a .gguf file (Llama family).") var model: String
        @Option(help: "The adapter folder.") var adapter: String
        @Option(help: "Where to write the merged model: an HF folder, or a .gguf file for a GGUF base.") var output: String
        @Flag(help: "Replace --output if it exists.") var overwrite = false
        @Flag(help: "Print a summary as JSON.") var json = false

        func run() throws {
            let gguf = model.lowercased().hasSuffix(".gguf")
            if gguf {
                guard output.hasSuffix(".gguf") else { throw CLIError("a GGUF base merges into a GGUF file: give --output NAME.gguf") }
                if FileManager.default.fileExists(atPath: output) && !overwrite {
                    throw CLIError("\(output) exists; pass --overwrite to replace it")
                }
            }
            let loaded = try ModelLoader.loadLanguageModel(path: model)
            let config: any AdapterConfig
            do { config = try PEFTFormat.load(into: loaded.model, from: adapter) } catch let e as AdapterError {
                throw CLIError("\(adapter): \(e)")
            }
            let merged = Injection.adaptedModuleKeys(in: loaded.model)
            if gguf {
                guard loaded.model is LlamaForCausalLM else {
                    throw CLIError("GGUF merge writes Llama-family files; \(type(of: loaded.model)) is not supported")
                }
                let written: [String]
                do {
                    try Injection.mergeAndUnload(loaded.model)
                    written = try GGUFMerge.write(model: loaded.model, modules: merged, base: try GGUFFile(path: model), to: output)
                } catch let e as AdapterError { throw CLIError(e.description) }
                if json {
                    try printJSON(["peft_type": config.peftType, "output": output, "tensors": "\(written.count)"])
                } else {
                    print("merged \(config.peftType) adapter \(adapter) into \(model) → \(output) (\(written.count) tensors re-written)")
                }
                return
            }
            let tied = Set(Injection.tiedEmbeddingKeys(in: loaded.model)).intersection(merged)
            guard tied.isEmpty else {
                throw CLIError("\(tied.sorted().joined(separator: ", ")) is tied to the output head: an HF folder cannot hold the merged embedding "
                               + "apart from the head (tie_word_embeddings); use the adapter unmerged (--adapter)")
            }
            try Injection.mergeAndUnload(loaded.model)
            switch loaded.model {
            case let m as LlamaForCausalLM: try m.save(to: output, overwrite: overwrite)
            case let m as GPT2LMHeadModel: try m.save(to: output, overwrite: overwrite)
            default: throw CLIError("merge saves Llama-family and GPT-2 HF folders; \(type(of: loaded.model)) is not supported")
            }
            // Carry the tokenizer and generation files over.
            for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                         "vocab.json", "merges.txt", "vocab.txt", "chat_template.jinja"] {
                let src = model + "/" + name
                if FileManager.default.fileExists(atPath: src) && !FileManager.default.fileExists(atPath: output + "/" + name) {
                    try FileManager.default.copyItem(atPath: src, toPath: output + "/" + name)
                }
            }
            if json {
                try printJSON(["peft_type": config.peftType, "output": output])
            } else {
                print("merged \(config.peftType) adapter \(adapter) into \(model) → \(output)")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an adapter against its base model and write it in PEFT's canonical form.")
        @Option(help: "The base model (HF folder or GGUF).") var model: String
        @Option(help: "The adapter folder.") var adapter: String
        @Option(help: "Where to write the adapter folder.") var output: String
        @Flag(help: "Print a summary as JSON.") var json = false

        func run() throws {
            let loaded = try ModelLoader.loadLanguageModel(path: model)
            let config = try PEFTFormat.load(into: loaded.model, from: adapter)
            try PEFTFormat.save(loaded.model, to: output, baseModelNameOrPath: config.baseModelNameOrPath ?? model)
            let report = Injection.trainableReport(loaded.model)
            if json {
                try printJSON(["peft_type": config.peftType, "output": output, "parameters": "\(report.trainable)"])
            } else {
                print("\(config.peftType) adapter checked against \(model) (\(report)) → \(output)")
            }
        }
    }
}

/// Loads `--adapter DIR` into a loaded model (no-op when nil).
enum AdapterLoading {
    static func attach(_ adapter: String?, to loaded: LoadedLanguageModel) throws {
        try attach(adapter, to: loaded.model)
    }

    static func attach(_ adapter: String?, to model: any Module) throws {
        guard let adapter else { return }
        do { try PEFTFormat.load(into: model, from: adapter) } catch let e as AdapterError {
            throw CLIError("--adapter \(adapter): \(e)")
        }
    }
}
