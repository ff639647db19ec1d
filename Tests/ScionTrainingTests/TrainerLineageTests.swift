// Lineage in trainer checkpoints: every checkpoint's model folder carries `scion_lineage.json` whose
// "train" step has the starting model's digest as parent and the steps, tokens, data and config so
// far; a resumed run keeps the same origin; a run starting from a folder continues its lineage.

import Foundation
import Testing
import ScionCheckpoint
import ScionData
import ScionModels
@testable import ScionTraining

@Suite("Trainer lineage")
struct TrainerLineageTests {
    @Test("checkpoints carry a train step whose parent is the initial model's digest; resume keeps it")
    func checkpointLineage() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = Tiny.model()
        let initialDigest = try Lineage.digest(ofTensors: model.stateDictionary())
        // The same digest as the initial model saved to disk.
        try model.save(to: root.appendingPathComponent("initial").path)
        #expect(initialDigest == (try Lineage.weightsDigest(folder: root.appendingPathComponent("initial").path)))
        var config = Tiny.config(steps: 4)
        config.checkpointEvery = 2
        let data = Tiny.data(Tiny.corpus())
        let store = CheckpointStore(directory: root.appendingPathComponent("checkpoints"), keep: 3)
        let trainer = try Trainer(config: config, model: model, data: data, checkpoints: store)
        try trainer.run(until: 2)
        let first = try #require(store.latest())
        let lineage = try #require(try Lineage.read(folder: first.appendingPathComponent("model").path))
        #expect(lineage.steps.map(\.operatorName) == ["train"])
        let step = lineage.steps[0]
        #expect(step.parentSHA256 == initialDigest)
        #expect(step.parentPath == nil)
        #expect(step.parameters["steps"] == "2")
        #expect(step.parameters["tokens"] == "\(trainer.state.history.reduce(0) { $0 + $1.tokens })")
        #expect(step.parameters["data"] == data.lineageDescription)
        #expect(step.parameters["data"]?.hasPrefix("sha256:") == true)
        let json = try #require(step.parameters["config"])
        let recorded = try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))
        #expect(recorded == config)

        // A resumed trainer (new model object, different init) keeps the original origin.
        let resumed = try Trainer(config: config, model: Tiny.model(seed: 99), data: data, checkpoints: store)
        try resumed.restore(from: first)
        try resumed.run(until: 4)
        let latest = try #require(store.latest())
        let final = try #require(try Lineage.read(folder: latest.appendingPathComponent("model").path))
        #expect(final.steps.count == 1)
        #expect(final.steps[0].parentSHA256 == initialDigest)
        #expect(final.steps[0].parameters["steps"] == "4")
    }

    @Test("a run from a folder continues that folder's lineage")
    func continuesFolderLineage() throws {
        let root = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let parent = root.appendingPathComponent("parent")
        let seedStep = Lineage.Step(operatorName: "gstack", parameters: ["growth_factor": "2"], parentSHA256: "00", parentPath: "seed")
        try CheckpointStore.saveModel(Tiny.model(), to: parent, tokenizerJSON: nil, lineage: Lineage(steps: [seedStep]))
        let origin = try TrainingOrigin(folder: parent.path, data: "text:corpus.txt", parameters: ["objective": "ce"])
        #expect(origin.parentSHA256 == (try Lineage.weightsDigest(folder: parent.path)))
        let model = try GPT2LMHeadModel.load(folder: HFFolder(path: parent.path))
        let trainer = try Trainer(config: Tiny.config(steps: 2), model: model, data: Tiny.data(Tiny.corpus()), origin: origin)
        try trainer.run(until: 2)
        let out = root.appendingPathComponent("trained")
        try CheckpointStore.saveModel(trainer.model, to: out, tokenizerJSON: nil, lineage: trainer.lineage())
        let chain = try #require(try Lineage.read(folder: out.path))
        #expect(chain.steps.map(\.operatorName) == ["gstack", "train"])
        #expect(chain.steps[0] == seedStep)
        #expect(chain.steps[1].parentSHA256 == origin.parentSHA256 && chain.steps[1].parentPath == parent.path)
        #expect(chain.steps[1].parameters["data"] == "text:corpus.txt" && chain.steps[1].parameters["objective"] == "ce")
        // saveModel is atomic: an existing folder is refused without overwrite and left intact.
        #expect(throws: (any Error).self) {
            try CheckpointStore.saveModel(trainer.model, to: out, tokenizerJSON: nil, overwrite: false)
        }
        #expect(try Lineage.read(folder: out.path) == chain)
    }
}
