// Progressive multi-stage shrink: a 4-layer teacher distilled to 3 then 2 layers, each stage
// inheriting from and distilled by the previous stage's model; the scheduled shapes, the lineage
// chain and the refusal of impossible schedules before any training.

import Foundation
import Testing
import ScionCheckpoint
import ScionData
import ScionModels
import ScionOptim
import ScionTensor
import ScionTraining
@testable import ScionGrowth

@Suite("Progressive shrink")
struct ProgressiveShrinkTests {
    /// The GPT-2 fixture stacked to 4 layers (lineage: gstack).
    static func teacher(_ family: String = "gpt2") throws -> String {
        let path = GrowthFixtures.temporaryPath("shrink-teacher-\(family)")
        try GStack(growthFactor: 2).grow(try GrowthFixtures.checkpoint(family)).save(to: path)
        return path
    }

    static func config(steps: Int) -> TrainingConfig {
        var c = LearngeneTrainingTests.config(steps: steps, learningRate: 3e-3)
        c.evalBatches = 2
        return c
    }

    @Test("12→8→4-style schedule: each stage has the scheduled shape and a lineage back to the seed",
          arguments: ["gpt2", "llama"])
    func stages(family: String) throws {
        let teacher = try Self.teacher(family)
        let dir = GrowthFixtures.temporaryPath("shrink-run")
        defer { try? FileManager.default.removeItem(atPath: teacher); try? FileManager.default.removeItem(atPath: dir) }
        let shrink = try ProgressiveShrink(layerSchedule: [3, 2], config: Self.config(steps: 2), workingDirectory: dir,
                                           temperature: 2, alpha: 0.7)
        let reports = try shrink.run(teacher: teacher, data: LearngeneTrainingTests.data())
        #expect(reports.map(\.layers) == [3, 2])
        #expect(reports.map(\.steps) == [2, 2])
        #expect(reports[0].parameters > reports[1].parameters)
        #expect(reports.allSatisfy { $0.validationLoss?.isFinite == true && $0.initialValidationLoss?.isFinite == true })
        let last = try Checkpoint(folder: reports[1].path)
        #expect(last.layerCount == 2 && last.hiddenSize == 32)
        let chain = try #require(try Lineage.read(folder: reports[1].path))
        #expect(chain.steps.map(\.operatorName) == ["gstack", "shrink", "train", "shrink", "train"])
        // Stage 2 inherits from stage 1's trained model and is distilled from it.
        #expect(chain.steps[3].parentSHA256 == (try Lineage.weightsDigest(folder: reports[0].path)))
        #expect(chain.steps[4].parameters["teacher"] == reports[0].path)
        #expect(chain.steps[4].parameters["teacher_sha256"] == (try Lineage.weightsDigest(folder: reports[0].path)))
        #expect(chain.steps[1].parameters["layers"] == "3" && chain.steps[3].parameters["layers"] == "2")
    }

    @Test("impossible schedules fail before training, naming the constraint")
    func badSchedules() throws {
        let teacher = try Self.teacher()
        let dir = GrowthFixtures.temporaryPath("shrink-bad")
        defer { try? FileManager.default.removeItem(atPath: teacher); try? FileManager.default.removeItem(atPath: dir) }
        func constraint(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let GrowthError.constraintViolated(_, c, _) { return c } catch { return "\(error)" }
        }
        let c = Self.config(steps: 1), data = LearngeneTrainingTests.data()
        #expect(constraint { _ = try ProgressiveShrink(layerSchedule: [], config: c, workingDirectory: dir) } == "at least one stage")
        #expect(constraint { _ = try ProgressiveShrink(layerSchedule: [3, 3], config: c, workingDirectory: dir) }
                == "stage layer counts strictly decreasing")
        #expect(constraint { _ = try ProgressiveShrink(layerSchedule: [2, 0], config: c, workingDirectory: dir) }
                == "every stage keeps >= 1 layer")
        #expect(constraint { _ = try ProgressiveShrink(layerSchedule: [5, 2], config: c, workingDirectory: dir).run(teacher: teacher, data: data) }
                == "1 <= layers <= 4")
        #expect(constraint { _ = try ProgressiveShrink(layerSchedule: [4, 2], config: c, workingDirectory: dir).run(teacher: teacher, data: data) }
                == "each stage smaller than the previous")
        #expect(constraint {
            _ = try ProgressiveShrink(stages: [InheritanceShrink(layers: 3, hiddenSize: 16)], config: c, workingDirectory: dir,
                                      hiddenWeight: 1).run(teacher: teacher, data: data)
        } == "hidden-state MSE needs equal hidden sizes")
        #expect(!FileManager.default.fileExists(atPath: dir + "/stage-1"))
    }
}
