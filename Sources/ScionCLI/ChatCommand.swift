// `scion chat`: an interactive conversation on stdin/stdout. Each line is a user turn; the whole
// history is rendered with the model's chat template and the reply streamed. EOF or /exit ends.
// Wraps `ChatTemplate.render` and `Generator.generate(prompt:options:onText:)`.

import ArgumentParser
import Foundation
import ScionModels
import ScionTokenizers

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat", abstract: "Chat with a model interactively (one line per turn; /exit or EOF ends).")

    @Option(help: "A Hugging Face model folder or a .gguf file.") var model: String
    @Option(help: "A PEFT adapter folder to apply (LoRA, DoRA, IA3, AdaLoRA).") var adapter: String?
    @Option(help: "An optional system message.") var system: String?
    @Option(name: .customLong("max-tokens"), help: "The most tokens per reply.") var maxTokens = 256
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var threading: ThreadArguments
    @Flag(help: "One JSON object per reply (role, content, token_ids, finish_reason).") var json = false

    struct Reply: Encodable {
        var role = "assistant"
        var content: String
        var tokenIDs: [Int]
        var finishReason: String
        enum CodingKeys: String, CodingKey { case role, content, tokenIDs = "token_ids", finishReason = "finish_reason" }
    }

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        threading.apply()
        let (loaded, tokenizer) = try InferenceSupport.loadLanguageModel(path: model)
        try AdapterLoading.attach(adapter, to: loaded)
        guard let template = loaded.chatTemplate else { throw CLIError("\(model) has no chat template") }
        let generator = Generator(model: loaded.model, tokenizer: tokenizer)
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        var turn: UInt64 = 0
        while true {
            if !json { InferenceSupport.write("> ") }
            guard let line = readLine(strippingNewline: true) else { break }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input == "/exit" { break }
            if input.isEmpty { continue }
            messages.append(ChatMessage(role: "user", content: line))
            let prompt = try template.render(messages: messages, addGenerationPrompt: true)
            var s = sampling.options
            s.seed &+= turn  // a fresh draw each turn, still reproducible from --seed
            let options = GenerationOptions(maxNewTokens: maxTokens, sampling: s, stopTokenIDs: Set(loaded.eosTokenIDs),
                                            addSpecialTokens: false, truncatesPromptFromLeft: true)
            let result = try generator.generate(prompt: prompt, options: options) { piece in
                if !json { InferenceSupport.write(piece) }
            }
            if json {
                try InferenceSupport.printJSONLine(Reply(content: result.text, tokenIDs: result.tokenIDs,
                                                         finishReason: result.finishReason.rawValue))
            } else {
                InferenceSupport.write("\n")
            }
            messages.append(ChatMessage(role: "assistant", content: result.text))
            turn += 1
        }
    }
}
