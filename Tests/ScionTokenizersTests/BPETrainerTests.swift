// The byte-level BPE trainer: round trip, compression, determinism, JSON re-load, HF readability.

import Foundation
import Testing

@testable import ScionTokenizers

@Suite struct BPETrainerTests {
    static func corpus() throws -> [String] {
        let lines = try Fixtures.corpusLines()
        return Array(repeating: lines, count: 4).flatMap { $0 }
    }

    @Test(arguments: BPETrainer.PreTokenization.allCases)
    func trainedTokenizerRoundTripsAndCompresses(pre: BPETrainer.PreTokenization) throws {
        let trainer = BPETrainer(vocabularySize: 600, specialTokens: ["<|endoftext|>"], preTokenization: pre)
        let tokenizer = try trainer.train(on: try Self.corpus())
        #expect(tokenizer.vocabularySize == 600)
        var bytes = 0
        var tokens = 0
        for line in try Fixtures.corpusLines() {
            let ids = tokenizer.encode(line).ids
            #expect(tokenizer.decode(ids) == line, "\(pre): \(line.debugDescription)")
            bytes += line.utf8.count
            tokens += ids.count
        }
        // Untrained byte-level BPE gives exactly 1 token per byte. This corpus is short and full of
        // CJK, emoji and accents (multi-byte, rarely repeated), so 344 merges reach about 2 bytes/token.
        #expect(Double(bytes) / Double(tokens) > 1.8, "\(pre): \(bytes) bytes in \(tokens) tokens")
        #expect(tokenizer.encode("<|endoftext|>hi").ids.first == 0)
    }

    @Test func trainingIsDeterministicAndReloads() throws {
        let trainer = BPETrainer(vocabularySize: 400, minimumFrequency: 2, specialTokens: ["<s>", "</s>"])
        let a = try trainer.trainedJSON(on: try Self.corpus())
        let b = try trainer.trainedJSON(on: try Self.corpus())
        #expect(a == b)
        let tokenizer = try Tokenizer(jsonData: a)
        let reloaded = try Tokenizer(jsonData: try #require(tokenizer.jsonData()))
        let text = "The quick brown fox, 12345 times."
        #expect(tokenizer.encode(text).ids == reloaded.encode(text).ids)
        #expect(tokenizer.id(forToken: "<s>") == 0 && tokenizer.id(forToken: "</s>") == 1)
    }

    @Test func tooSmallVocabularyIsRejected() {
        #expect(throws: TokenizerError.self) {
            try BPETrainer(vocabularySize: 100).train(on: ["hello"])
        }
    }
}
