// Config strictness: unknown keys and wrong types are errors naming the key path and the expected
// type; `--set` overrides are parsed as YAML scalars.

import Foundation
import ScionOptim
import Testing
@testable import ScionTraining

@Suite struct ConfigTests {
    static let base = """
    model:
      init: {architecture: gpt2, hiddenSize: 32, layers: 2, heads: 2, contextLength: 64}
    data:
      synthetic: {documents: 100}
      sequenceLength: 32
      batchSize: 4
    optimizer: {type: adamw, weightDecay: 0.1, gradientClip: 1.0}
    schedule: {type: cosine, peak: 1.0e-3, minimum: 1.0e-4, steps: 50}
    steps: 50
    """

    func error(_ yaml: String, overrides: [String] = []) -> (path: String, reason: String)? {
        do {
            _ = try TrainingConfig.load(yaml: yaml, overrides: overrides)
            return nil
        } catch TrainingError.invalidConfig(let path, let reason) {
            return (path, reason)
        } catch {
            return ("?", "\(error)")
        }
    }

    @Test func validConfigLoads() throws {
        let c = try TrainingConfig.load(yaml: Self.base)
        #expect(c.steps == 50)
        #expect(c.model.initialize?.hiddenSize == 32)
        #expect(c.optimizer.weightDecay == 0.1)
        #expect(c.schedule == .cosine(CosineDecay(peak: 1e-3, minimum: 1e-4, steps: 50)))
        #expect(c.gradientAccumulation == 1)
    }

    @Test(arguments: [
        ("optimiser: {type: sgd}", "optimiser"),
        ("optimizer: {type: adamw, beta3: 0.9}", "optimizer.beta3"),
        ("schedule: {type: cosine, peak: 1.0, minimum: 0, steps: 5, warmup: 2}", "schedule.warmup"),
        ("model:\n  init: {architecture: gpt2, hiddenSize: 32, layers: 2, heads: 2, contextLength: 64, depth: 3}",
         "model.init.depth"),
    ])
    func unknownKeyIsNamed(extra: String, path: String) throws {
        var yaml = Self.base
        // Replace the section when the extra line redefines it, else append.
        let key = String(extra.prefix { $0 != ":" })
        yaml = yaml.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix(key + ":") && !(key == "model" && $0.hasPrefix("  init:")) }
            .joined(separator: "\n") + "\n" + extra
        let e = try #require(error(yaml))
        #expect(e.path == path, "\(e)")
        #expect(e.reason.contains("unknown key"), "\(e)")
    }

    @Test func wrongTypeNamesKeyAndExpectedType() throws {
        let e = try #require(error(Self.base.replacingOccurrences(of: "\nsteps: 50", with: "\nsteps: fifty")))
        #expect(e.path == "steps")
        #expect(e.reason.contains("expected an integer"), "\(e)")
        let f = try #require(error(Self.base.replacingOccurrences(of: "batchSize: 4", with: "batchSize: [4]")))
        #expect(f.path == "data.batchSize")
        #expect(f.reason.contains("expected an integer") && f.reason.contains("a list"), "\(f)")
        let g = try #require(error(Self.base, overrides: ["optimizer.weightDecay=lots"]))
        #expect(g.path == "optimizer.weightDecay")
        #expect(g.reason.contains("expected a number"))
        let h = try #require(error(Self.base, overrides: ["gradientCheckpointing=3"]))
        #expect(h.path == "gradientCheckpointing")
        #expect(h.reason.contains("boolean"))
    }

    @Test func missingKeyIsNamed() throws {
        let e = try #require(error(Self.base.replacingOccurrences(of: "  batchSize: 4\n", with: "")))
        #expect(e.path == "data.batchSize")
        #expect(e.reason.contains("missing"))
    }

    @Test func overridesParseAsYAMLScalars() throws {
        let c = try TrainingConfig.load(yaml: Self.base, overrides: [
            "steps=7", "optimizer.beta2=0.95", "gradientCheckpointing=true", "output=runs/x", "trainable=h\\.0\\..*",
            "distillation.teacher=/t", "distillation.temperature=4",
        ])
        #expect(c.steps == 7)
        #expect(c.optimizer.beta2 == 0.95)
        #expect(c.gradientCheckpointing)
        #expect(c.output == "runs/x")
        #expect(c.trainable == "h\\.0\\..*")
        #expect(c.distillation == DistillationConfig(teacher: "/t", temperature: 4))
    }

    @Test func rangesAreChecked() throws {
        #expect(error(Self.base, overrides: ["steps=0"])?.path == "steps")
        #expect(error(Self.base, overrides: ["optimizer.type=adam"])?.path == "optimizer.type")
        #expect(error(Self.base, overrides: ["data.validationFraction=1.5"])?.path == "data.validationFraction")
    }

    @Test func configRoundTripsThroughJSON() throws {
        let c = try TrainingConfig.load(yaml: Self.base)
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(TrainingConfig.self, from: data) == c)
    }
}
