// `scion generate`: continue a prompt with a causal LM (HF folder or GGUF), streaming the text as
// it is produced. Wraps `Generator.generate(prompt:options:onText:)`.

import ArgumentParser
import Foundation
import ScionModels
import ScionTokenizers

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text from a prompt.")

    @Option(help: "A Hugging Face model folder or a .gguf file.") var model: String
    @Option(help: "A PEFT adapter folder to apply (LoRA, DoRA, IA3, AdaLoRA).") var adapter: String?
    @Option(help: "The prompt text.") var prompt: String
    @Option(name: .customLong("max-tokens"), help: "The most tokens to generate.") var maxTokens = 128
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var threading: ThreadArguments
    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable; not included in the output).")
    var stop: [String] = []
    @Flag(help: "Wrap the prompt as a user message in the model's chat template.") var chat = false
    @Flag(name: .customLong("truncate-prompt"), help: "Drop the start of a prompt longer than the context instead of failing.")
    var truncatePrompt = false
    @Flag(help: "Print the text, token ids and finish reason as JSON instead of streaming.") var json = false

    struct Output: Encodable {
        var text: String
        var tokenIDs: [Int]
        var finishReason: String
        var promptTokens: Int
        var tokensPerSecond: Double
        enum CodingKeys: String, CodingKey {
            case text, tokenIDs = "token_ids", finishReason = "finish_reason", promptTokens = "prompt_tokens"
            case tokensPerSecond = "tokens_per_second"
        }
    }

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard !prompt.isEmpty else { throw ValidationError("--prompt must not be empty") }
        if stop.contains("") { throw ValidationError("--stop must not be empty") }
    }

    func run() throws {
        threading.apply()
        let (loaded, tokenizer) = try InferenceSupport.loadLanguageModel(path: model)
        try AdapterLoading.attach(adapter, to: loaded)
        var text = prompt
        var options = GenerationOptions(maxNewTokens: maxTokens, sampling: sampling.options,
                                        stopTokenIDs: Set(loaded.eosTokenIDs), stopStrings: stop,
                                        truncatesPromptFromLeft: truncatePrompt)
        if chat {
            guard let template = loaded.chatTemplate else { throw CLIError("\(model) has no chat template") }
            text = try template.render(messages: [ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
            options.addSpecialTokens = false
        }
        let generator = Generator(model: loaded.model, tokenizer: tokenizer)
        let start = Date()
        let result = try generator.generate(prompt: text, options: options) { piece in
            if !json { InferenceSupport.write(piece) }
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            try printJSON(Output(text: result.text, tokenIDs: result.tokenIDs, finishReason: result.finishReason.rawValue,
                                 promptTokens: result.promptTokenCount,
                                 tokensPerSecond: Double(result.tokenIDs.count) / max(seconds, 1e-9)))
        } else {
            InferenceSupport.write("\n")
        }
    }
}
