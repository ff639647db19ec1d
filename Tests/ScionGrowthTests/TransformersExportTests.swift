// Exports grown checkpoints for the transformers cross-check. Runs only with SCION_GROWN_EXPORT set
// to a folder: each case is written as an HF folder plus scion_outputs.json (ids and Scion's
// outputs), which Scripts/fixtures/check_grown_in_transformers.py loads in transformers and compares.

import Foundation
import Testing
@testable import ScionGrowth

@Suite("Export grown checkpoints for transformers")
struct TransformersExportTests {
    static let exportDir = ProcessInfo.processInfo.environment["SCION_GROWN_EXPORT"]

    @Test(.enabled(if: exportDir != nil))
    func export() throws {
        let dir = try #require(Self.exportDir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ops: [(String, any GrowthOperator)] = [
            ("gstack", GStack(growthFactor: 2)), ("insert", ZeroBlockInsertion(after: [-1, 1])),
            ("widen_hidden", WidthExpansion(hiddenSize: 64, intermediateSize: 160)),
            ("widen_gqa", WidthExpansion(attentionHeads: 8, keyValueHeads: 4)),
            ("widen_aki", WidthExpansion(intermediateSize: 100, method: .aki)),
            ("vocab", VocabularyExpansion(tokens: ["<x>", "<y>"])),
            ("shrink", InheritanceShrink(layers: 1, intermediateSize: 40, choice: .importance)),
        ]
        for fixture in GrowthFixtures.names {
            let source = try GrowthFixtures.checkpoint(fixture)
            for (name, op) in ops {
                guard (try? op.validate(source)) != nil else { continue }
                let out = (dir as NSString).appendingPathComponent("\(fixture)-\(name)")
                try op.grow(source).save(to: out, overwrite: true)
                let outputs = try GrowthFixtures.freshOutputs(out)
                let json: [String: Any] = ["ids": GrowthFixtures.ids, "rows": outputs.count, "width": outputs[0].count,
                                           "values": outputs.flatMap { $0.map(Double.init) }]
                try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: out + "/scion_outputs.json"))
            }
        }
    }
}
