// Packing, batching, shuffling, splitting, resume and SFT/chat loss masking.

import Foundation
import ScionTensor
import ScionTokenizers
import Testing

@testable import ScionData

@Suite struct PackingTests {
    static let docs: [[Int]] = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]

    @Test func eosBetweenDocumentsAndExactTokenAccounting() throws {
        let options = PackingOptions(sequenceLength: 4, eosTokenID: 0, shuffle: false)
        var stream = try SequenceStream(corpus: TestData.corpus(Self.docs), options: options)
        // Stream: 1 2 3 0 | 4 5 0 | 6 7 8 9 0  (12 tokens) → (12 - 1) / 4 = 2 sequences.
        #expect(stream.streamTokensPerEpoch == 12)
        #expect(stream.sequencesPerEpoch == 2)
        let a = stream.next(), b = stream.next()
        #expect(a.tokens == [1, 2, 3, 0, 4])
        #expect(a.inputs == [1, 2, 3, 0] && a.targets == [2, 3, 0, 4])
        #expect(b.tokens == [4, 5, 0, 6, 7])
        #expect(stream.next().tokens == [1, 2, 3, 0, 4])  // the next epoch, same order unshuffled
        #expect(stream.position.epoch == 1 && stream.position.index == 1)

        // With T = 1 every stream token after the first is a target exactly once.
        var one = try SequenceStream(corpus: TestData.corpus(Self.docs),
                                     options: PackingOptions(sequenceLength: 1, eosTokenID: 0, shuffle: false))
        #expect(one.sequencesPerEpoch == 11)
        let targets = (0..<11).flatMap { _ in one.next().targets }
        #expect(targets == [2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 0])
    }

    @Test func batchesAreInt64TensorsOfShapeBT() throws {
        var loader = try DataLoader(corpus: TestData.corpus(Self.docs), batchSize: 2,
                                    options: PackingOptions(sequenceLength: 4, eosTokenID: 0, shuffle: false))
        let batch = loader.nextBatch()
        #expect(batch.inputs.shape == [2, 4] && batch.inputs.dtype == .int64)
        #expect(batch.targets.shape == [2, 4] && batch.targets.dtype == .int64)
        #expect(batch.inputs.ints() == [1, 2, 3, 0, 4, 5, 0, 6])
        #expect(batch.targets.ints() == [2, 3, 0, 4, 5, 0, 6, 7])
        #expect(batch.segmentIDs == nil && batch.positionIDs == nil)
        #expect(batch.lossMask.toArray() == [Float](repeating: 1, count: 8))
    }

    @Test func documentBoundaryResetSegmentsAndPositions() throws {
        let options = PackingOptions(sequenceLength: 4, eosTokenID: 0, documentBoundaryReset: true, shuffle: false)
        var loader = try DataLoader(corpus: TestData.corpus(Self.docs), batchSize: 2, options: options)
        let batch = loader.nextBatch()
        // Row 0 inputs 1 2 3 0 (one document); row 1 inputs 4 5 0 | 6.
        #expect(batch.segmentIDValues == [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(batch.positionIDValues == [0, 1, 2, 3, 0, 1, 2, 0])
        #expect(batch.segmentIDs?.shape == [2, 4])
        let mask = try #require(batch.sameDocumentMask)
        #expect(mask.shape == [2, 1, 4, 4] && mask.dtype == .bool)
        // Row 1: positions 0–2 are one document, position 3 another.
        #expect(Array(mask.ints()[16...]) == [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1])
        // A row that starts mid-document restarts its positions at 0.
        var mid = try SequenceStream(corpus: TestData.corpus([[1, 2, 3, 4, 5, 6, 7]]),
                                     options: PackingOptions(sequenceLength: 3, eosTokenID: 0,
                                                             documentBoundaryReset: true, shuffle: false))
        _ = mid.next()
        let second = mid.next()
        #expect(second.inputs == [4, 5, 6] && second.positionIDs == [0, 1, 2] && second.segmentIDs == [0, 0, 0])
    }

    static func randomCorpus(documents: Int, seed: UInt64) -> InMemoryCorpus {
        var g = RandomGenerator(seed: seed)
        return TestData.corpus((0..<documents).map { d in
            (0..<(1 + g.nextIndex(below: 20))).map { _ in 1 + d % 50 + g.nextIndex(below: 100) }
        })
    }

    @Test func shuffleIsDeterministicBySeed() throws {
        // Pinned: the permutation is our own algorithm, identical on every platform.
        #expect(SeededShuffle.permutation(count: 10, seed: 42) == Self.pinnedPermutation)
        let corpus = Self.randomCorpus(documents: 60, seed: 1)
        let options = PackingOptions(sequenceLength: 16, eosTokenID: 0)
        var a = try DataLoader(corpus: corpus, batchSize: 4, options: options, seed: 7)
        var b = try DataLoader(corpus: corpus, batchSize: 4, options: options, seed: 7)
        var c = try DataLoader(corpus: corpus, batchSize: 4, options: options, seed: 8)
        let batchesA = (0..<20).map { _ in a.nextBatch() }
        #expect(batchesA == (0..<20).map { _ in b.nextBatch() })
        #expect(batchesA != (0..<20).map { _ in c.nextBatch() })
        // Shuffling permutes, it does not lose tokens: one epoch's stream has the same multiset.
        var s = try SequenceStream(corpus: corpus, options: PackingOptions(sequenceLength: 1, eosTokenID: 0), seed: 3)
        let served = (0..<s.sequencesPerEpoch).flatMap { _ in s.next().targets }.sorted()
        let stream = (0..<corpus.documentCount).flatMap { corpus.document($0).ids + [0] }
        var difference: [Int: Int] = [:]
        for t in stream { difference[t, default: 0] += 1 }
        for t in served { difference[t, default: 0] -= 1 }
        // Exactly one stream token (the epoch's first) is never a target.
        #expect(difference.values.filter { $0 != 0 } == [1])
        #expect(served.count == stream.count - 1)
    }

    static let pinnedPermutation = [7, 3, 8, 9, 5, 6, 4, 1, 0, 2]

    @Test func resumedPositionYieldsIdenticalBatches() throws {
        let corpus = Self.randomCorpus(documents: 30, seed: 2)
        let options = PackingOptions(sequenceLength: 8, eosTokenID: 0, documentBoundaryReset: true)
        var loader = try DataLoader(corpus: corpus, batchSize: 3, options: options, seed: 11)
        for _ in 0..<(loader.batchesPerEpoch + 2) { _ = loader.nextBatch() }  // cross an epoch
        #expect(loader.position.epoch == 1)
        let saved = try JSONEncoder().encode(loader.position)
        let expected = (0..<(2 * loader.batchesPerEpoch)).map { _ in loader.nextBatch() }
        var resumed = try DataLoader(corpus: corpus, batchSize: 3, options: options,
                                     position: JSONDecoder().decode(DataLoaderPosition.self, from: saved))
        #expect((0..<expected.count).map { _ in resumed.nextBatch() } == expected)
    }

    @Test func splitIsByDocumentSeededAndDisjoint() throws {
        let s = try SeededShuffle.split(documentCount: 100, validationFraction: 0.1, seed: 5)
        #expect(s.validation.count == 10 && s.train.count == 90)
        #expect(Set(s.train).isDisjoint(with: s.validation))
        #expect(Set(s.train + s.validation) == Set(0..<100))
        let again = try SeededShuffle.split(documentCount: 100, validationFraction: 0.1, seed: 5)
        #expect(again.validation == s.validation)
        #expect(try SeededShuffle.split(documentCount: 100, validationFraction: 0.1, seed: 6).validation != s.validation)
        #expect(throws: DataError.self) { try SeededShuffle.split(documentCount: 10, validationFraction: 1, seed: 0) }
        // A loader over the validation split serves only validation documents' tokens.
        let corpus = TestData.corpus((0..<100).map { [1000 + $0, 1000 + $0] })
        var v = try DataLoader(corpus: corpus, documents: s.validation, batchSize: 1,
                               options: PackingOptions(sequenceLength: 2, eosTokenID: 0, shuffle: false))
        let seen = Set((0..<v.sequencesPerEpoch).flatMap { _ in v.nextBatch().inputIDs }).subtracting([0])
        #expect(seen == Set(s.validation.map { 1000 + $0 }))
    }

    @Test func promptTokensAreIgnoredInSFT() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("sft.jsonl")
        let pairs = [("Q: where does Mira live?", " A: Dovren."), ("Q: what does Tobin keep?", " A: a goat.")]
        try TestData.write(pairs.map { #"{"prompt": "\#($0.0)", "completion": "\#($0.1)"}"# }
            .joined(separator: "\n"), to: file)
        let tok = TestData.tokenizer
        let cache = try TokenCache.prepare(sources: [.promptCompletion(file)], tokenizer: tok,
                                           directory: dir.appendingPathComponent("c"))
        #expect(cache.hasLossMask)
        let stream = pairs.flatMap { tok.tokenIDs($0.0) + tok.tokenIDs($0.1) + [0] }
        var loader = try DataLoader(corpus: cache, batchSize: 1,
                                    options: PackingOptions(sequenceLength: stream.count - 1, eosTokenID: 0, shuffle: false))
        let batch = loader.nextBatch()
        #expect(batch.inputIDs == Array(stream.dropLast()))
        let kept = batch.targetIDs.filter { $0 != PackingOptions.ignoreIndex }
        let completions = pairs.flatMap { tok.tokenIDs($0.1) + [0] }  // EOS after a completion is learned
        #expect(kept == completions)
        #expect(batch.supervisedTargetCount == completions.count)
        #expect(batch.lossMask.toArray().reduce(0, +) == Float(completions.count))
    }

    @Test func chatRenderingSupervisesOnlyAssistantTurns() throws {
        let template = try ChatTemplate(source: TestData.chatML)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi!"),
                        ChatMessage(role: "assistant", content: "Hi."), ChatMessage(role: "user", content: "Bye."),
                        ChatMessage(role: "assistant", content: "Bye!")]
        let doc = try ChatRendering.document(messages: messages, template: template)
        #expect(doc.segments.map(\.text).joined() == (try template.render(messages: messages)))
        #expect(doc.segments.filter(\.supervised).map(\.text) == ["Hi.<|im_end|>\n", "Bye!<|im_end|>\n"])
        #expect(doc.segments.first?.text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")

        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("chat.jsonl")
        try TestData.write(#"{"messages": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hi."}]}"#,
                           to: file)
        let tok = TestData.tokenizer
        let cache = try TokenCache.prepare(sources: [.chat(file)], tokenizer: tok, chatTemplate: template,
                                           directory: dir.appendingPathComponent("c"))
        let d = cache.document(0)
        #expect(d.ids.prefix(1) == [tok.id(forToken: "<|im_start|>")!])
        let supervisedIDs = d.ids.indices.filter { d.isSupervised($0) }.map { d.ids[$0] }
        #expect(tok.decode(supervisedIDs) == "Hi.<|im_end|>\n")
        #expect(tok.decode(d.ids) == "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHi.<|im_end|>\n")
        // A chat source without a template is a typed error naming the line.
        #expect(throws: DataError.chatTemplate(path: file.path, line: 1, reason: "no chat template given")) {
            _ = try SourceReader.documents(of: .chat(file))
        }
    }
}
