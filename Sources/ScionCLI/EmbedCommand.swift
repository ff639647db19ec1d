// `scion embed`: sentence embeddings from an encoder (BERT-family HF folder): mean pooling over
// tokens, then L2 normalisation. Wraps `SentenceEmbedder.load(path:)` and `SentenceEmbedder.embed(_:)`.

import ArgumentParser
import Foundation
import ScionModels

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Embed text with an encoder (mean pooling, L2-normalised).")

    @Option(help: "A Hugging Face encoder folder (e.g. all-MiniLM-L6-v2).") var model: String
    @Option(help: "A PEFT adapter folder to apply to the encoder (keys as PEFT saves them for BertModel).") var adapter: String?
    @Option(help: "The text to embed.") var text: String?
    @Option(help: "A file; each line is one input.") var file: String?
    @Flag(help: "Print a JSON array of embeddings, in input order.") var json = false

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give exactly one of --text or --file") }
    }

    @OptionGroup var threading: ThreadArguments

    func run() throws {
        threading.apply()
        let inputs = try text.map { [$0] } ?? InferenceSupport.lines(ofFile: file ?? "")
        let embedder = try SentenceEmbedder.load(path: model)
        try AdapterLoading.attach(adapter, to: embedder.model)
        let embeddings = embedder.embed(inputs)
        if json {
            try printJSON(embeddings)
        } else {
            for e in embeddings { print(e.map { String(format: "%.6f", $0) }.joined(separator: " ")) }
        }
    }
}
