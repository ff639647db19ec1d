// Perplexity: closed forms for position-independent models (uniform → V, unigram → exp of the mean
// NLL), every token scored exactly once whatever the window and stride, window counts, agreement of
// windowed and single-pass scores for a model whose context fits, and typed errors.

import Foundation
import Testing
@testable import ScionModels
import ScionNN
import ScionTensor

/// Predicts the same distribution `log p` at every position.
final class UnigramModel: LanguageModel {
    let logProbabilities: [Float]
    let maxPositions: Int
    var vocabularySize: Int { logProbabilities.count }
    var layerCount: Int { 0 }
    var entries: [ModuleEntry] { [] }
    private(set) var windowLengths: [Int] = []

    init(probabilities: [Double], maxPositions: Int = 16) {
        logProbabilities = probabilities.map { Float(Foundation.log($0)) }
        self.maxPositions = maxPositions
    }

    func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        windowLengths.append(ids.shape[1])
        let n = ids.shape[0] * ids.shape[1]
        return Tensor(Array((0..<n).map { _ in logProbabilities }.joined()), shape: ids.shape + [vocabularySize])
    }

    func hiddenStates(_ ids: Tensor) -> [Tensor] { [] }
    func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layerCount: 0, batchSize: batchSize, kvHeads: 1, headDimension: 1, capacity: capacity)
    }
}

@Suite struct PerplexityTests {
    @Test func uniformModelHasPerplexityV() throws {
        let model = UnigramModel(probabilities: [Double](repeating: 0.2, count: 5))
        let r = try Perplexity.evaluate(model: model, tokenIDs: [0, 3, 1, 4, 4, 2, 0, 1], contextLength: 4, stride: 2)
        #expect(abs(r.perplexity - 5) < 1e-5)
        #expect(abs(r.meanNLL - log(5.0)) < 1e-6)
        #expect(r.tokenCount == 7)
    }

    @Test func unigramModelMatchesClosedForm() throws {
        let p = [0.5, 0.25, 0.125, 0.125]
        let tokens = [0, 1, 2, 3, 0, 0, 1, 3, 2, 0, 1]
        let expected = -tokens.dropFirst().map { log(p[$0]) }.reduce(0, +) / Double(tokens.count - 1)
        let r = try Perplexity.evaluate(model: UnigramModel(probabilities: p), tokenIDs: tokens, contextLength: 5, stride: 3)
        #expect(abs(r.meanNLL - expected) < 1e-6)
        #expect(abs(r.perplexity - exp(expected)) < 1e-5)
    }

    @Test(arguments: [(4, 1), (4, 2), (4, 3), (4, 4), (16, 8), (2, 1), (2, 2), (7, 5)])
    func everyTokenIsScoredOnce(context: Int, stride: Int) throws {
        let tokens = (0..<13).map { ($0 * 7) % 4 }
        let p = [0.4, 0.3, 0.2, 0.1]
        let r = try Perplexity.evaluate(model: UnigramModel(probabilities: p), tokenIDs: tokens,
                                        contextLength: context, stride: stride)
        #expect(r.tokenCount == 12)
        let expected = -tokens.dropFirst().map { log(p[$0]) }.reduce(0, +) / 12
        #expect(abs(r.meanNLL - expected) < 1e-6)
    }

    @Test func windowsFollowTheStride() throws {
        let model = UnigramModel(probabilities: [0.5, 0.5])
        // N = 10, L = 4, stride 2: windows [0,4) [2,6) [4,8) [6,10).
        let r = try Perplexity.evaluate(model: model, tokenIDs: [Int](repeating: 1, count: 10), contextLength: 4, stride: 2)
        #expect(r.windowCount == 4)
        #expect(model.windowLengths == [4, 4, 4, 4])
    }

    @Test func contextDependentModelAgreesWithOnePassWhenItFits() throws {
        let model = ContextModel(maxPositions: 32)
        let tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
        let whole = try Perplexity.evaluate(model: model, tokenIDs: tokens, contextLength: 32, stride: 16)
        // Direct sum over the one-pass log-softmax.
        let lp = model.logits(Tensor(indices: tokens, shape: [1, tokens.count]), cache: nil, attentionMask: nil)
            .logSoftmax(axis: -1).floats()
        let v = model.vocabularySize
        let nll = -(1..<tokens.count).map { Double(lp[($0 - 1) * v + tokens[$0]]) }.reduce(0, +) / Double(tokens.count - 1)
        #expect(abs(whole.meanNLL - nll) < 1e-6)
        #expect(whole.windowCount == 1)
        // Short windows see less context, so the score differs but counts the same tokens.
        let windowed = try Perplexity.evaluate(model: model, tokenIDs: tokens, contextLength: 4, stride: 2)
        #expect(windowed.tokenCount == whole.tokenCount)
    }

    @Test func textIsTokenizedWithTheTokenizersSettings() throws {
        // The byte tokenizer adds no BOS: "abcd" → 4 tokens → 3 predictions.
        let model = UnigramModel(probabilities: [Double](repeating: 1.0 / 257, count: 257))
        let r = try Perplexity.evaluate(model: model, tokenizer: byteTokenizer, text: "abcd", contextLength: 8, stride: 4)
        #expect(r.tokenCount == 3)
        #expect(abs(r.perplexity - 257) < 1e-3)
    }

    @Test func badInputsThrowTypedErrors() {
        let model = UnigramModel(probabilities: [0.5, 0.5], maxPositions: 8)
        #expect(throws: GenerationError.sequenceTooShort(tokens: 1)) { try Perplexity.evaluate(model: model, tokenIDs: [1]) }
        #expect(throws: GenerationError.invalidTokenID(2, vocabularySize: 2)) { try Perplexity.evaluate(model: model, tokenIDs: [1, 2]) }
        #expect(throws: GenerationError.self) { try Perplexity.evaluate(model: model, tokenIDs: [1, 0], contextLength: 9) }
        #expect(throws: GenerationError.self) { try Perplexity.evaluate(model: model, tokenIDs: [1, 0], contextLength: 4, stride: 5) }
        #expect(throws: GenerationError.self) { try Perplexity.evaluate(model: model, tokenIDs: [1, 0], contextLength: 4, stride: 0) }
    }
}
