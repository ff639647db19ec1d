// Generator: cache vs no-cache logits, stop tokens and strings, batches (left padding + mask) equal
// to single prompts, streaming of characters split across byte tokens, budgets and typed errors.
// Uses two hand-built `LanguageModel` doubles: `ContextModel` (a bigram table plus a term summed
// over every attended position, stored in a real KVCache) and `ScriptedModel` (emits a fixed script).

import Foundation
import Testing
@testable import ScionModels
import ScionNN
import ScionTensor
import ScionTokenizers

/// logits[b, t, j] = W[id_t, j] + U[j] · Σ_{attended s ≤ t} E[id_s]; W has a strong bigram
/// next(i) = (3i + 1) mod V so greedy runs are predictable; the context term makes the cache matter.
final class ContextModel: LanguageModel {
    let vocabularySize: Int, maxPositions: Int
    var layerCount: Int { 1 }
    var entries: [ModuleEntry] { [.parameter("table", table)] }
    let table: Parameter
    let w: [Float], u: [Float], e: [Float]
    private(set) var calls: [(ids: [Int], cached: Int, masked: Bool)] = []

    init(vocabularySize v: Int = 13, maxPositions: Int = 64, seed: UInt64 = 1) {
        vocabularySize = v; self.maxPositions = maxPositions
        var g = RandomGenerator(seed: seed)
        var w = (0..<(v * v)).map { _ in Float(g.nextNormal() * 0.5) }
        for i in 0..<v { w[i * v + (3 * i + 1) % v] += 4 }
        self.w = w
        u = (0..<v).map { _ in Float(g.nextNormal() * 0.3) }
        e = (0..<v).map { _ in Float(g.nextNormal()) }
        table = Parameter(Tensor(w, shape: [v, v]))
    }

    func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        let b = ids.shape[0], t = ids.shape[1], v = vocabularySize
        let flat = ids.ints()
        calls.append((flat, cache?.length ?? 0, attentionMask != nil))
        // [B, 1, T, 1]: one "head" whose key and value are E[id]
        let fresh = Tensor(flat.map { e[$0] }, shape: [b, 1, t, 1])
        let all = cache.map { $0.append(layer: 0, keys: fresh, values: fresh).values } ?? fresh
        let s = all.shape[2]
        let values = all.floats()
        let mask = attentionMask?.ints() ?? [Int](repeating: 1, count: b * s)
        precondition(mask.count == b * s, "mask \(attentionMask?.shape ?? []) for \(s) positions")
        var out = [Float](repeating: 0, count: b * t * v)
        for bi in 0..<b {
            for ti in 0..<t {
                let position = s - t + ti
                var context: Float = 0
                for si in 0...position where mask[bi * s + si] == 1 { context += values[bi * s + si] }
                let id = flat[bi * t + ti]
                for j in 0..<v { out[(bi * t + ti) * v + j] = w[id * v + j] + u[j] * context }
            }
        }
        return Tensor(out, shape: [b, t, v])
    }

    func hiddenStates(_ ids: Tensor) -> [Tensor] { [] }
    func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layerCount: 1, batchSize: batchSize, kvHeads: 1, headDimension: 1, capacity: capacity)
    }
}

/// Emits `script[k]` as the k-th generated token after a prompt of `promptLength` tokens, wherever
/// it sits in a left-padded batch (positions count only unmasked tokens).
final class ScriptedModel: LanguageModel {
    let vocabularySize: Int, maxPositions: Int, script: [Int], promptLength: Int
    var layerCount: Int { 1 }
    var entries: [ModuleEntry] { [] }

    init(vocabularySize: Int, script: [Int], promptLength: Int, maxPositions: Int = 256) {
        self.vocabularySize = vocabularySize; self.script = script; self.promptLength = promptLength
        self.maxPositions = maxPositions
    }

    func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        let b = ids.shape[0], t = ids.shape[1], v = vocabularySize
        let cached = cache?.length ?? 0
        if let cache {
            let z = Tensor.zeros([b, 1, t, 1])
            _ = cache.append(layer: 0, keys: z, values: z)
        }
        let s = cached + t
        let mask = attentionMask?.ints() ?? [Int](repeating: 1, count: b * s)
        var out = [Float](repeating: 0, count: b * t * v)
        for bi in 0..<b {
            for ti in 0..<t {
                let real = mask[(bi * s)..<(bi * s + cached + ti + 1)].reduce(0, +)
                let k = min(max(real - promptLength, 0), script.count - 1)
                out[(bi * t + ti) * v + script[k]] = 50  // certain even when sampling at temperature 1
            }
        }
        return Tensor(out, shape: [b, t, v])
    }

    func hiddenStates(_ ids: Tensor) -> [Tensor] { [] }
    func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layerCount: 1, batchSize: batchSize, kvHeads: 1, headDimension: 1, capacity: capacity)
    }
}

/// A byte-level tokenizer with no merges: id 0 is "<eos>", every other id one byte, so characters
/// beyond ASCII span several tokens.
let byteTokenizer: Tokenizer = {
    // The trainer only fails for a vocabulary smaller than the byte alphabet.
    try! BPETrainer(vocabularySize: 257, specialTokens: ["<eos>"]).train(on: ["a"])
}()

/// A byte-level tokenizer over a small vocabulary for `ContextModel` prompts (ids < 13 are mapped
/// through modulo; only the ids matter there).
private func ids(_ text: String) -> [Int] { byteTokenizer.tokenIDs(text) }

@Suite struct GenerationTests {
    @Test func cachedLogitsEqualUncachedLogits() {
        let model = ContextModel()
        let sequence = [3, 1, 4, 1, 5, 9, 2, 6]
        let full = model.logits(Tensor(indices: sequence, shape: [1, 8]), cache: nil, attentionMask: nil).floats()
        let cache = model.makeCache(batchSize: 1, capacity: 8)
        var cached = model.logits(Tensor(indices: Array(sequence[0..<5]), shape: [1, 5]), cache: cache, attentionMask: nil).floats()
        for i in 5..<8 {
            cached += model.logits(Tensor(indices: [sequence[i]], shape: [1, 1]), cache: cache, attentionMask: nil).floats()
        }
        #expect(cached == full)
    }

    @Test(arguments: [SamplingOptions.greedy, SamplingOptions(temperature: 0.9, topK: 5, topP: 0.9, seed: 4)])
    func cachedGenerationEqualsUncached(sampling: SamplingOptions) throws {
        let model = ContextModel()
        let generator = Generator(model: model, tokenizer: byteTokenizer)
        let a = try generator.generate(promptTokenIDs: [[3, 1, 4]], options: GenerationOptions(maxNewTokens: 12, sampling: sampling))
        let b = try generator.generate(promptTokenIDs: [[3, 1, 4]],
                                       options: GenerationOptions(maxNewTokens: 12, sampling: sampling, usesCache: false))
        #expect(a == b)
        #expect(a[0].tokenIDs.count == 12 && a[0].finishReason == .length)
        // Prefill once, then one token per step.
        #expect(model.calls.prefix(12).map(\.ids.count) == [3] + [Int](repeating: 1, count: 11))
    }

    @Test(arguments: [SamplingOptions.greedy, SamplingOptions(temperature: 1.2, seed: 9)])
    func batchWithPaddingEqualsSinglePrompts(sampling: SamplingOptions) throws {
        let model = ContextModel()
        let generator = Generator(model: model, tokenizer: byteTokenizer)
        let prompts = [[5], [2, 7, 1, 8, 2], [1, 1, 2]]
        let options = GenerationOptions(maxNewTokens: 9, sampling: sampling, stopTokenIDs: [0], paddingTokenID: 11)
        let batch = try generator.generate(promptTokenIDs: prompts, options: options)
        #expect(model.calls.first?.masked == true)
        for (p, row) in zip(prompts, batch) {
            #expect(try generator.generate(promptTokenIDs: [p], options: options) == [row])
        }
    }

    @Test func stopTokenEndsARowAndIsKeptInIDsOnly() throws {
        let script = ids("hi!") + [0] + ids("never")
        let model = ScriptedModel(vocabularySize: 257, script: script, promptLength: 2)
        let r = try Generator(model: model, tokenizer: byteTokenizer)
            .generate(promptTokenIDs: [ids("ab")], options: GenerationOptions(maxNewTokens: 20, stopTokenIDs: [0]))[0]
        #expect(r.text == "hi!")
        #expect(r.tokenIDs == ids("hi!") + [0])
        #expect(r.finishReason == .stopToken)
        #expect(r.promptTokenCount == 2)
    }

    @Test func stopStringCutsTheTextAndNeverStreamsIt() throws {
        let script = ids("hello world. more")
        let model = ScriptedModel(vocabularySize: 257, script: script, promptLength: 1)
        var streamed = ""
        let r = try Generator(model: model, tokenizer: byteTokenizer).generate(
            prompt: "x", options: GenerationOptions(maxNewTokens: 40, stopStrings: ["xyz", "wor"])) { streamed += $0 }
        #expect(r.text == "hello ")
        #expect(streamed == "hello ")
        #expect(r.finishReason == .stopString)
        #expect(r.tokenIDs == ids("hello wor"))
    }

    @Test func heldBackTextIsReleasedWhenTheStopStringDoesNotComplete() throws {
        let model = ScriptedModel(vocabularySize: 257, script: ids("a wo wa"), promptLength: 1)
        var pieces: [String] = []
        let r = try Generator(model: model, tokenizer: byteTokenizer).generate(
            prompt: "x", options: GenerationOptions(maxNewTokens: 7, stopStrings: ["world"])) { pieces.append($0) }
        #expect(r.text == "a wo wa" && r.finishReason == .length)
        #expect(pieces.joined() == "a wo wa")
    }

    @Test func streamingEmitsOnlyCompleteCharacters() throws {
        let text = "héllo 😀 wörld ✓"
        let script = ids(text) + [0]
        #expect(script.count > text.count + 1)  // multi-byte characters span tokens
        let model = ScriptedModel(vocabularySize: 257, script: script, promptLength: 1)
        var pieces: [String] = []
        let r = try Generator(model: model, tokenizer: byteTokenizer).generate(
            prompt: "x", options: GenerationOptions(maxNewTokens: 60, stopTokenIDs: [0])) { pieces.append($0) }
        #expect(r.text == text)
        #expect(pieces.joined() == text)
        #expect(!pieces.joined().unicodeScalars.contains("\u{FFFD}"))
        #expect(pieces.count > 1)
    }

    @Test func batchRowsStopIndependently() throws {
        // The script is indexed by real tokens past 2, so row 0 (1-token prompt) reads "a" twice and
        // stops one step after row 1; row 1 must stay stopped while row 0 continues.
        let script = ids("ab") + [0] + ids("cd")
        let model = ScriptedModel(vocabularySize: 257, script: script, promptLength: 2)
        var streamed = ["", ""]
        let results = try Generator(model: model, tokenizer: byteTokenizer).generate(
            promptTokenIDs: [ids("p"), ids("pq")], options: GenerationOptions(maxNewTokens: 6, stopTokenIDs: [0])) {
            streamed[$0] += $1
        }
        #expect(results.map(\.text) == ["aab", "ab"])
        #expect(results.map(\.tokenIDs) == [ids("aab") + [0], ids("ab") + [0]])
        #expect(results.map(\.finishReason) == [.stopToken, .stopToken])
        #expect(streamed == ["aab", "ab"])
    }

    @Test func contextFullEndsGeneration() throws {
        let model = ContextModel(maxPositions: 6)
        let r = try Generator(model: model, tokenizer: byteTokenizer)
            .generate(promptTokenIDs: [[1, 2, 3, 4]], options: GenerationOptions(maxNewTokens: 10, sampling: .greedy))[0]
        // 4 prompt tokens + 2 fed generated tokens fill 6 positions; the third sampled token ends it.
        #expect(r.tokenIDs.count == 3)
        #expect(r.finishReason == .contextFull)
    }

    @Test func promptTooLongThrowsOrTruncatesFromTheLeft() throws {
        let model = ContextModel(maxPositions: 8)
        let generator = Generator(model: model, tokenizer: byteTokenizer)
        let long = Array(repeating: 1, count: 10) + [2, 3]
        #expect(throws: GenerationError.promptTooLong(tokens: 12, limit: 8)) {
            try generator.generate(promptTokenIDs: [long], options: GenerationOptions(maxNewTokens: 3))
        }
        let r = try generator.generate(promptTokenIDs: [long],
                                       options: GenerationOptions(maxNewTokens: 3, sampling: .greedy, truncatesPromptFromLeft: true))[0]
        #expect(r.promptTokenCount == 5)
        #expect(r.tokenIDs.count == 3)
        let suffix = try generator.generate(promptTokenIDs: [Array(long.suffix(5))],
                                            options: GenerationOptions(maxNewTokens: 3, sampling: .greedy))[0]
        #expect(r == suffix)
    }

    @Test func badInputsThrowTypedErrors() throws {
        let generator = Generator(model: ContextModel(), tokenizer: byteTokenizer)
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(prompt: "") }
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(promptTokenIDs: []) }
        #expect(throws: GenerationError.invalidTokenID(99, vocabularySize: 13)) {
            try generator.generate(promptTokenIDs: [[1, 99]])
        }
        #expect(throws: GenerationError.self) { try generator.generate(promptTokenIDs: [[1]], options: GenerationOptions(maxNewTokens: 0)) }
        #expect(throws: GenerationError.self) {
            try generator.generate(promptTokenIDs: [[1]], options: GenerationOptions(stopStrings: [""]))
        }
        #expect(throws: GenerationError.invalidOption(name: "temperature", reason: "must be a finite number ≥ 0, got -1.0")) {
            try generator.generate(promptTokenIDs: [[1]], options: GenerationOptions(sampling: SamplingOptions(temperature: -1)))
        }
    }

    @Test func incrementalDecoderKeepsTheLeadingSpaceAfterContext() {
        var d = IncrementalDecoder(tokenizer: byteTokenizer, context: ids("say"))
        var out = ""
        for id in ids(" ok é") { out += d.push(id) }
        out += d.flush()
        #expect(out == " ok é")
        var partial = IncrementalDecoder(tokenizer: byteTokenizer)
        let bytes = ids("é")
        #expect(partial.push(bytes[0]) == "")
        #expect(partial.flush() == "\u{FFFD}")
    }
}
