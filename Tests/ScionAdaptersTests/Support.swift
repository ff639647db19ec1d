// Shared helpers for the adapter tests: the tiny Llama and GPT-2 fixtures, logits, comparisons.

import Foundation
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func modelPath(_ name: String) -> String { root.appendingPathComponent("models/\(name)").path }
    static func peftPath(_ name: String) -> String { root.appendingPathComponent("peft/\(name)").path }

    static func model(_ name: String) throws -> any LanguageModel {
        try ModelLoader.loadLanguageModel(path: modelPath(name)).model
    }

    static let ids = [5, 17, 42, 3, 99, 64, 8]

    static func logits(_ model: any LanguageModel, _ ids: [Int] = ids) -> Tensor {
        model.logits(Tensor(indices: ids, shape: [1, ids.count]), cache: nil, attentionMask: nil)
    }

    static func expected(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("peft/\(name)/expected.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    static func doubles(_ any: Any?) -> [Double] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue } ?? [] }
    static func ints(_ any: Any?) -> [Int] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }

    static func tempDirectory(_ label: String) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("scion-adapters-\(label)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    return zip(a.floats(), b.floats()).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
}

func maxAbsDiff(_ a: Tensor, _ b: [Double]) -> Double {
    let x = a.floats()
    precondition(x.count == b.count, "sizes \(x.count) vs \(b.count)")
    return zip(x, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

/// Sets every parameter of the active adapters to seeded random values (positive around 1 for
/// multiplicative ones), so that the adapter changes the output.
func randomizeAdapters(_ model: any Module, seed: UInt64 = 11) {
    var g = RandomGenerator(seed: seed)
    for key in Injection.adaptedModuleKeys(in: model) {
        for e in activeAdapterEntries(model, key) {
            guard case .parameter(let k, let p) = e, !p.value.dtype.isInteger else { continue }   // DSEE's support stays
            let noise = Tensor.normal(p.shape, std: 0.2, generator: &g)
            p.value = k.contains("ia3") || k.contains("magnitude") ? p.value + noise * 0.5 + (k.contains("magnitude") ? 0.1 : 0) : noise
        }
    }
}

/// The active adapter's entries on the Linear or Embedding module at `key`.
func activeAdapterEntries(_ model: any Module, _ key: String) -> [ModuleEntry] {
    if let l = Injection.linearLayers(of: model).first(where: { $0.0 == key })?.1 { return l.activeAdapter?.entries ?? [] }
    if let e = Injection.embeddingLayers(of: model).first(where: { $0.0 == key })?.1 { return e.activeAdapter?.entries ?? [] }
    return []
}

/// Whether the active adapter on the module at `key` has a closed-form ΔW.
func activeAdapterMerges(_ model: any Module, _ key: String) -> Bool {
    if let l = Injection.linearLayers(of: model).first(where: { $0.0 == key })?.1 { return l.activeAdapter?.deltaWeight(base: l) != nil }
    if let e = Injection.embeddingLayers(of: model).first(where: { $0.0 == key })?.1 { return e.activeAdapter?.deltaWeight(base: e) != nil }
    return true
}
