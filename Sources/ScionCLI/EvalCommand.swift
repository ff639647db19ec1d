// `scion eval perplexity`: sliding-window perplexity of a causal LM over a text file.
// Wraps `Perplexity.evaluate(model:tokenizer:file:contextLength:stride:)`.

import ArgumentParser
import Foundation
import ScionModels

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate a model.", subcommands: [PerplexityCommand.self])
}

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity", abstract: "Perplexity over a text file (sliding window).")

    @Option(help: "A Hugging Face model folder or a .gguf file.") var model: String
    @Option(help: "A PEFT adapter folder to apply (LoRA, DoRA, IA3, AdaLoRA).") var adapter: String?
    @Option(help: "A UTF-8 text file.") var file: String
    @Option(help: "Window length in tokens (default: the model's context).") var context: Int?
    @Option(help: "Tokens between window starts (default: half the window).") var stride: Int?
    @Flag(help: "Print perplexity, tokens and mean_nll as JSON.") var json = false

    struct Output: Encodable {
        var perplexity: Double, tokens: Int, meanNLL: Double, windows: Int, context: Int, stride: Int
        enum CodingKeys: String, CodingKey {
            case perplexity, tokens, meanNLL = "mean_nll", windows, context, stride
        }
    }

    func validate() throws {
        if let context, context < 2 { throw ValidationError("--context must be at least 2") }
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1") }
        if let context, let stride, stride > context { throw ValidationError("--stride must not exceed --context") }
    }

    @OptionGroup var threading: ThreadArguments

    func run() throws {
        threading.apply()
        guard FileManager.default.isReadableFile(atPath: file) else { throw CLIError("cannot read --file \(file)") }
        let (loaded, tokenizer) = try InferenceSupport.loadLanguageModel(path: model)
        try AdapterLoading.attach(adapter, to: loaded)
        let window = context ?? loaded.model.maxPositions
        let step = stride ?? max(1, window / 2)
        let r = try Perplexity.evaluate(model: loaded.model, tokenizer: tokenizer, file: URL(fileURLWithPath: file),
                                        contextLength: window, stride: step)
        if json {
            try printJSON(Output(perplexity: r.perplexity, tokens: r.tokenCount, meanNLL: r.meanNLL,
                                 windows: r.windowCount, context: window, stride: step))
        } else {
            print(String(format: "perplexity %.4f  (mean NLL %.4f nats over %d tokens, %d windows of %d, stride %d)",
                         r.perplexity, r.meanNLL, r.tokenCount, r.windowCount, window, step))
        }
    }
}
