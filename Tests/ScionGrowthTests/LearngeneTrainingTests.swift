// Learngene training (TLEG, SWS): the auxiliary model's layers are exactly the gene formulas, the
// gradient reaching each gene tensor is Σ_l c[l][j]·(gradient of layer l's tensor), the saved gene
// expands back to the same function, distillation lowers the KL to the teacher within a few steps,
// and impossible methods fail with the constraint named.

import Foundation
import Testing
import ScionCheckpoint
import ScionData
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
import ScionTraining
@testable import ScionGrowth

@Suite("Learngene training")
struct LearngeneTrainingTests {
    static let ids = Tensor(indices: [1, 5, 17, 42, 99, 3, 64, 8, 23, 77, 11, 50], shape: [2, 6])

    static func aux(_ fixture: String, _ method: LearngeneModel.Method, seed: UInt64 = 3) throws -> LearngeneModel {
        try LearngeneModel.random(like: GrowthFixtures.path(fixture), method: method, seed: seed)
    }

    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test("TLEG: auxiliary layer l = θ_A + (l/L)·θ_B, other tensors the gene's", arguments: ["gpt2", "llama"])
    func tlegFormula(fixture: String) throws {
        let m = try Self.aux(fixture, .tleg(depth: 3))
        #expect(m.gene.layerCount == 2 && m.layerCount == 3)
        let gene = m.gene.stateDictionary(), expanded = m.expanded.stateDictionary()
        let prefix = fixture == "gpt2" ? "transformer.h." : "model.layers."
        var checked = 0
        for (key, value) in expanded {
            if let (l, suffix) = LearngeneModel.splitLayerKey(key, prefix: prefix) {
                let a = gene["\(prefix)0.\(suffix)"]!.floats(), b = gene["\(prefix)1.\(suffix)"]!.floats()
                let w = Float(l + 1) / 3
                #expect(Self.close(value.floats(), zip(a, b).map { $0 + w * $1 }), "\(key)")
                checked += 1
            } else {
                #expect(value.floats() == gene[key]!.floats(), "\(key)")
            }
        }
        #expect(checked > 0)
        // Stored parameters: the gene only (2 layers), not the 3-layer auxiliary model.
        #expect(m.numberOfParameters == m.gene.numberOfParameters)
        #expect(m.numberOfParameters < m.expanded.numberOfParameters)
    }

    /// The gradient of every gene tensor equals Σ_l c[l][j]·∂loss/∂(layer l's tensor), where the layer
    /// gradients come from an ordinary model holding the same weights as independent leaves.
    @Test("gradients reach θ_A, θ_B and the stage layers weighted by their coefficients",
          arguments: [("gpt2", LearngeneModel.Method.tleg(depth: 3)), ("llama", .tleg(depth: 4)), ("gpt2", .sws(profile: [2, 1]))])
    func gradientRouting(fixture: String, method: LearngeneModel.Method) throws {
        let m = try Self.aux(fixture, method)
        var noise = RandomGenerator(seed: 11)
        // Perturb the vectors (θ_B's start at zero, norms at one) so every tensor is exercised.
        for (_, p) in m.gene.namedParameters() where p.shape.count == 1 {
            p.value = p.value + Tensor.normal(p.shape, std: 0.05, generator: &noise)
        }
        let loss = CrossEntropyObjective().summedLoss(model: m, batch: Self.batch())
        let g = loss.backward()
        // The same weights as independent leaves in a plain model of depth L.
        let plain = try LearngeneModel.randomModel(family: m.family, configData: try HFFolder(path: GrowthFixtures.path(fixture)).configData,
                                                   layers: method.depth, generator: &noise)
        try plain.load(withoutGradients { m.expanded.stateDictionary() }, strict: true)
        let plainLoss = CrossEntropyObjective().summedLoss(model: plain, batch: Self.batch())
        #expect(abs(plainLoss.item() - loss.item()) <= 1e-4 * max(1, abs(loss.item())))
        let pg = plainLoss.backward()
        let plainParameters = Dictionary(plain.namedParameters(), uniquingKeysWith: { a, _ in a })
        let prefix = LearngeneModel.layerPrefix(m.family)
        let c = method.coefficients
        var checked = 0
        for (key, p) in m.gene.namedParameters() {
            let got = try #require(g[p.value], "no gradient reached \(key)")
            var expected = [Float](repeating: 0, count: p.value.count)
            if let (j, suffix) = LearngeneModel.splitLayerKey(key, prefix: prefix) {
                for l in 0..<method.depth where c[l][j] != 0 {
                    let gl = try #require(pg[plainParameters["\(prefix)\(l).\(suffix)"]!.value]).floats()
                    for i in expected.indices { expected[i] += c[l][j] * gl[i] }
                }
            } else {
                expected = try #require(pg[plainParameters[key]!.value]).floats()
            }
            let scale = expected.map { abs($0) }.max() ?? 1
            let diff = zip(got.floats(), expected).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-4 * max(scale, 1e-3), "\(key): max |Δ| \(diff) (scale \(scale))")
            checked += 1
        }
        #expect(checked == m.gene.namedParameters().count)
    }

    @Test("gene gradients are the same with gradient checkpointing (the generated weights are recomputed inside)")
    func gradientCheckpointing() throws {
        let m = try Self.aux("llama", .tleg(depth: 3))
        func geneGradients() -> [String: [Float]] {
            let g = CrossEntropyObjective().summedLoss(model: m, batch: Self.batch()).backward()
            var out: [String: [Float]] = [:]
            for (k, p) in m.gene.namedParameters() { out[k] = g[p.value]?.floats() }
            return out
        }
        let plain = geneGradients()
        m.gradientCheckpointing = true
        let recomputed = geneGradients()
        #expect(Set(plain.keys) == Set(recomputed.keys) && plain.count == m.gene.namedParameters().count)
        for (k, v) in plain { #expect(Self.close(recomputed[k] ?? [], v, tolerance: 1e-5), "\(k)") }
    }

    static func batch() -> Batch {
        var loader = try! DataLoader(corpus: corpus(seed: 7), batchSize: 2, options: PackingOptions(sequenceLength: 8, eosTokenID: 0),
                                     seed: 1)
        return loader.nextBatch()
    }

    @Test("the saved gene expands back to the auxiliary model's function (TLEG and SWS)",
          arguments: [("gpt2", LearngeneModel.Method.tleg(depth: 5)), ("llama", .sws(profile: [2, 1, 3]))])
    func saveAndExpand(fixture: String, method: LearngeneModel.Method) throws {
        let m = try Self.aux(fixture, method)
        let path = GrowthFixtures.temporaryPath("gene")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.save(to: path, overwrite: false)
        #expect(try LearngeneModel.readMethod(folder: path) == method)
        let gene = try Checkpoint(folder: path)
        #expect(gene.layerCount == method.geneLayers)
        let expanded = try LearngeneExpansion(method.expansion).grow(gene)
        #expect(expanded.layerCount == method.depth)
        let out = GrowthFixtures.temporaryPath("expanded")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try expanded.save(to: out)
        let reloaded = try ModelLoader.loadLanguageModel(path: out).model
        let a = withoutGradients { m(Self.ids).floats() }, b = reloaded(Self.ids).floats()
        #expect(Self.close(a, b, tolerance: 1e-4))
    }

    @Test("SWS instantiates any per-stage depth: stage s's layer fills d_s layers")
    func swsDepths() throws {
        let m = try Self.aux("gpt2", .sws(profile: [1, 1, 1]))
        let path = GrowthFixtures.temporaryPath("sws-gene")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.save(to: path, overwrite: false)
        let gene = try Checkpoint(folder: path)
        for profile in [[2, 2, 2], [3, 3, 3], [1, 2, 4]] {
            let model = try LearngeneExpansion(.sws(profile: profile)).grow(gene)
            #expect(model.layerCount == profile.reduce(0, +))
            let stages = profile.enumerated().flatMap { s, n in Array(repeating: s, count: n) }
            for (i, s) in stages.enumerated() {
                for (k, t) in model.layer(i) { #expect(t.floats() == gene.layer(s)[k]!.floats(), "\(profile) layer \(i) \(k)") }
            }
        }
    }

    static func corpus(seed: UInt64 = 3) -> InMemoryCorpus {
        var g = RandomGenerator(seed: seed)
        return InMemoryCorpus(documents: (0..<24).map { _ in
            TokenizedDocument(ids: (0..<24).map { _ in 1 + Int(g.next() % 99) })
        })
    }

    static func config(steps: Int, learningRate: Double = 1e-2) -> TrainingConfig {
        var c = TrainingConfig(model: ModelSpec(from: GrowthFixtures.path("gpt2")),
                               data: DataConfig(sources: [SourceConfig(path: "memory")], sequenceLength: 8, batchSize: 4), steps: steps)
        c.schedule = .constant(ConstantSchedule(learningRate: learningRate))
        c.logEvery = 100
        return c
    }

    static func data() -> TrainingData {
        TrainingData(corpus: corpus(), trainDocuments: Array(4..<24), validationDocuments: Array(0..<4),
                     packing: PackingOptions(sequenceLength: 8, eosTokenID: 0), seed: 5)
    }

    /// Mean KL(teacher ‖ auxiliary) per token at T = 1 over fixed batches.
    static func meanKL(teacher: any LanguageModel, student: any LanguageModel, batches: [Batch]) -> Double {
        let kl = DistillationLoss(teacher: teacher, temperature: 1, alpha: 1)
        return withoutGradients {
            batches.reduce(0.0) { $0 + kl.summedLoss(model: student, batch: $1).item() }
                / Double(batches.reduce(0) { $0 + $1.supervisedTargetCount })
        }
    }

    @Test("distillation lowers the KL to the teacher in a few steps (TLEG and SWS)",
          arguments: [LearngeneModel.Method.tleg(depth: 4), .sws(profile: [2, 2])])
    func distillationLowersKL(method: LearngeneModel.Method) throws {
        let teacherPath = GrowthFixtures.path("gpt2")
        let teacher = try ModelLoader.loadLanguageModel(path: teacherPath).model
        var loader = try DataLoader(corpus: Self.corpus(seed: 9), batchSize: 4,
                                    options: PackingOptions(sequenceLength: 8, eosTokenID: 0), seed: 1)
        let probe = (0..<3).map { _ in loader.nextBatch() }
        let training = LearngeneTraining(method: method, config: Self.config(steps: 12), temperature: 1, alpha: 1, seed: 3)
        let before = Self.meanKL(teacher: teacher, student: try training.makeAuxiliary(teacher: teacherPath), batches: probe)
        let out = GrowthFixtures.temporaryPath("trained-gene")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (aux, report) = try training.run(teacher: teacherPath, data: Self.data(), output: out)
        let after = Self.meanKL(teacher: teacher, student: aux, batches: probe)
        #expect(after < 0.8 * before, "KL \(before) → \(after)")
        #expect(report.steps == 12 && report.tokens > 0)
        #expect(report.geneParameters < report.auxiliaryParameters || method.geneLayers == method.depth)
        // The gene folder: gene layers, the method manifest, the lineage of a distillation "train" step.
        let gene = try Checkpoint(folder: out)
        #expect(gene.layerCount == method.geneLayers)
        #expect(try LearngeneModel.readMethod(folder: out) == method)
        let lineage = try #require(try Lineage.read(folder: out))
        #expect(lineage.steps.map(\.operatorName) == ["train"])
        #expect(lineage.steps[0].parameters["learngene"] == method.description)
        #expect(lineage.steps[0].parameters["teacher_sha256"] == (try Lineage.weightsDigest(folder: teacherPath)))
        #expect(lineage.steps[0].parameters["steps"] == "12")
        // The trained gene instantiates models that load and run.
        let d = method.geneLayers == 2 ? LearngeneExpansion.Mode.tleg(depth: 6) : .sws(profile: [3, 3])
        #expect(try LearngeneExpansion(d).grow(gene).layerCount == 6)
    }

    @Test("impossible methods and shapes name the constraint")
    func badInput() throws {
        func constraint(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let GrowthError.constraintViolated(_, c, _) { return c } catch { return "\(error)" }
        }
        #expect(constraint { _ = try Self.aux("gpt2", .tleg(depth: 1)) } == "tleg depth >= 2")
        #expect(constraint { _ = try Self.aux("gpt2", .sws(profile: [])) } == "sws stages >= 1")
        #expect(constraint { _ = try Self.aux("gpt2", .sws(profile: [2, 0])) } == "every stage depth >= 1")
        var long = Self.config(steps: 1)
        long.data.sequenceLength = 65
        #expect(constraint { _ = try LearngeneTraining(method: .tleg(depth: 2), config: long).makeAuxiliary(teacher: GrowthFixtures.path("gpt2")) }
                == "sequence length <= the model's positions")
        #expect(constraint { _ = try LearngeneTraining(method: .tleg(depth: 2), config: Self.config(steps: 1), temperature: 0)
                .makeAuxiliary(teacher: GrowthFixtures.path("gpt2")) } == "temperature > 0 and 0 <= alpha <= 1")
        #expect(throws: GrowthError.self) { _ = try Self.aux("bert", .tleg(depth: 2)) }
    }
}
