// Shared fixtures for the trainer tests: a tiny GPT-2, small token corpora, temporary folders.

import Foundation
import ScionData
import ScionModels
import ScionOptim
import ScionTensor
@testable import ScionTraining

enum Tiny {
    static let vocabulary = 32

    static func model(seed: UInt64 = 1, layers: Int = 1, width: Int = 16) -> GPT2LMHeadModel {
        var g = RandomGenerator(seed: seed)
        return GPT2LMHeadModel(config: GPT2Config(vocabSize: vocabulary, nPositions: 32, nEmbd: width, nLayer: layers,
                                                  nHead: 2, eosTokenId: 0), generator: &g)
    }

    /// `count` documents of random ids in 1..<vocabulary.
    static func corpus(documents count: Int = 40, length: Int = 20, seed: UInt64 = 3) -> InMemoryCorpus {
        var g = RandomGenerator(seed: seed)
        return InMemoryCorpus(documents: (0..<count).map { _ in
            TokenizedDocument(ids: (0..<length).map { _ in 1 + Int(g.next() % UInt64(vocabulary - 1)) })
        })
    }

    static func config(steps: Int, batchSize: Int = 2, sequenceLength: Int = 8, optimizer: String = "adamw",
                       learningRate: Double = 3e-3) -> TrainingConfig {
        var c = TrainingConfig(model: ModelSpec(initialize: ModelInit(hiddenSize: 16, layers: 1, heads: 2, contextLength: 32)),
                               data: DataConfig(synthetic: SyntheticConfig(), sequenceLength: sequenceLength,
                                                batchSize: batchSize),
                               steps: steps)
        c.optimizer = OptimizerConfig(type: optimizer, gradientClip: 1)
        c.schedule = .warmupCosine(peak: learningRate, minimum: learningRate / 10, warmupSteps: 2, decaySteps: steps)
        c.evalBatches = 2
        return c
    }

    static func data(_ corpus: InMemoryCorpus, sequenceLength: Int = 8, validation: Bool = true) -> TrainingData {
        let n = corpus.documentCount
        let validationDocuments = validation ? Array(0..<4) : []
        return TrainingData(corpus: corpus, trainDocuments: Array((validation ? 4 : 0)..<n),
                            validationDocuments: validationDocuments,
                            packing: PackingOptions(sequenceLength: sequenceLength, eosTokenID: 0), seed: 5)
    }

    static func temporaryDirectory(_ name: String = #function) -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("scion-training-tests-\(getpid())-\(name.filter { $0.isLetter })-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
