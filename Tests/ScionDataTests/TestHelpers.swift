// Shared helpers for ScionData tests: temporary folders and a small trained tokenizer with
// ChatML special tokens.

import Foundation
import ScionTokenizers

@testable import ScionData

enum TestData {
    /// A fresh temporary folder.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("scion-data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A small byte-level BPE tokenizer with `<|endoftext|>` (0), `<|im_start|>` (1), `<|im_end|>` (2).
    static let tokenizer: Tokenizer = {
        let texts = SyntheticCorpus.generate(documents: 200, seed: 9) + ["user assistant system Hi! Bye. Q: A:"]
        return try! BPETrainer(vocabularySize: 320, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
            .train(on: texts)
    }()

    static let chatML = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url)
    }

    /// In-memory documents from id lists.
    static func corpus(_ docs: [[Int]]) -> InMemoryCorpus {
        InMemoryCorpus(documents: docs.map { TokenizedDocument(ids: $0) })
    }
}
