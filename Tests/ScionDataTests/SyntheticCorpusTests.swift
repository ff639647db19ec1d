// The synthetic corpus: determinism, structure (agreement, consistent facts), entropy baselines,
// and the deterministic demo tokenizer.

import Foundation
import ScionTensor
import Testing

@testable import ScionData

@Suite struct SyntheticCorpusTests {
    @Test func generationIsDeterministicBySeed() {
        let a = SyntheticCorpus.generate(documents: 50, seed: 3)
        #expect(a == SyntheticCorpus.generate(documents: 50, seed: 3))
        #expect(a != SyntheticCorpus.generate(documents: 50, seed: 4))
        #expect(a.allSatisfy { !$0.isEmpty && $0.hasSuffix(".") })
    }

    @Test func factsAreConsistentAndVerbsAgree() {
        let text = SyntheticCorpus.generate(documents: 400, seed: 1).joined(separator: " ")
        #expect(text.contains("Mira lives in Dovren."))
        #expect(!text.contains("Mira lives in Kelmar"))
        #expect(text.contains("Tobin keeps a goat."))
        #expect(!text.contains("Tobin keeps a fox"))
        for bad in ["an cat", "a owl", "a old", "two cat ", "every cats", "some dog "] {
            #expect(!text.contains(bad), "found \(bad)")
        }
        // Without nesting, a plural subject never meets a singular verb and vice versa.
        var sampler = SyntheticCorpus.Sampler(g: .init(seed: 5))
        let clauses = (0..<2000).map { _ in sampler.clause(depth: 0) + " " }
        for bad in ["cats sees", "children runs", "mice sleeps", "cat see ", "fox run ", "owls waits"] {
            #expect(!clauses.contains { $0.contains(bad) }, "found \(bad)")
        }
        #expect(text.contains(" that "))
    }

    @Test func bigramEntropyIsClearlyBelowUnigram() throws {
        let tokenizer = try SyntheticCorpus.tokenizer()
        #expect(tokenizer.vocabularySize <= 512 && tokenizer.vocabularySize > 300)
        #expect(tokenizer.id(forToken: SyntheticCorpus.endOfText) == 0)
        let docs = SyntheticCorpus.generate(documents: 1500, seed: 2)
        let unigram = SyntheticCorpus.unigramEntropy(of: docs, tokenizer: tokenizer)
        let bigram = SyntheticCorpus.bigramEntropy(of: docs, tokenizer: tokenizer)
        #expect(unigram > 3)
        #expect(bigram < unigram - 1.5, "unigram \(unigram) nats, bigram \(bigram) nats")
        // Deterministic tokenizer: a second training gives the same file.
        #expect(try SyntheticCorpus.tokenizer().jsonData() == tokenizer.jsonData())
        // The corpus packs into batches.
        let corpus = SyntheticCorpus.corpus(documents: docs, tokenizer: tokenizer)
        var loader = try DataLoader(corpus: corpus, batchSize: 4,
                                    options: PackingOptions(sequenceLength: 64, eosTokenID: 0), seed: 1)
        #expect(loader.nextBatch().inputs.shape == [4, 64])
    }

    @Test func entropyBaselinesOnKnownSequences() {
        // Two equally likely symbols: ln 2; a deterministic alternation: bigram entropy 0.
        #expect(abs(EntropyBaseline.unigram(sequences: [[1, 2, 1, 2]]) - log(2.0)) < 1e-12)
        #expect(EntropyBaseline.bigram(sequences: [[1, 2, 1, 2, 1, 2]]) == 0)
    }
}
