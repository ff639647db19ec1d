// The parameter tree: key paths, strict loading (all problems reported together, nothing changed),
// tied parameters counted once, freezing; Linear in both layouts; quantized rows; the KV cache.

import Foundation
import Testing
import ScionNN
import ScionTensor

final class TinyBlock: Module {
    let proj = Linear(inFeatures: 4, outFeatures: 3)
    let norm = LayerNorm(dimension: 3)
    var entries: [ModuleEntry] { [.child("proj", proj), .child("norm", norm)] }
}

final class TinyModel: Module {
    let embed = Embedding(count: 10, dimension: 4)
    let layers = [TinyBlock(), TinyBlock()]
    lazy var head: Parameter = embed.weight.parameter!          // tied to the embedding
    var entries: [ModuleEntry] { [.child("embed", embed), .list("layers", layers), .parameter("head", head)] }
}

@Suite struct ModuleTests {
    @Test func keysAreDottedPaths() {
        let m = TinyModel()
        let keys = m.namedParameters().map { $0.0 }
        #expect(keys == ["embed.weight", "layers.0.proj.weight", "layers.0.proj.bias", "layers.0.norm.weight",
                         "layers.0.norm.bias", "layers.1.proj.weight", "layers.1.proj.bias", "layers.1.norm.weight",
                         "layers.1.norm.bias"])   // the tied head appears once, under the embedding
        #expect(m.numberOfParameters == 40 + 2 * (12 + 3 + 3 + 3))
    }

    @Test func strictLoadReportsEverythingAndChangesNothing() {
        let m = TinyModel()
        var d = m.stateDictionary()
        d["layers.0.proj.weight"] = Tensor.ones([4, 3])              // wrong shape
        d["layers.1.norm.bias"] = nil                                 // missing
        d["extra.weight"] = Tensor.ones([1])                          // unexpected
        do {
            try m.load(d)
            Issue.record("load should have thrown")
        } catch let ModuleError.keyMismatch(missing, unexpected, shapes) {
            #expect(missing == ["layers.1.norm.bias"])
            #expect(unexpected == ["extra.weight"])
            #expect(shapes == [.init(key: "layers.0.proj.weight", expected: [3, 4], actual: [4, 3])])
        } catch { Issue.record("unexpected error \(error)") }
        #expect(m.layers[0].norm.weight.value.floats() == [1, 1, 1])   // untouched
    }

    @Test func loadRoundTripAndFreeze() throws {
        let a = TinyModel(), b = TinyModel()
        var g = RandomGenerator(seed: 1)
        var d: [String: Tensor] = [:]
        for (k, p) in a.namedParameters() { d[k] = Tensor.normal(p.shape, generator: &g) }
        try a.load(d)
        try b.load(a.stateDictionary())
        for (k, t) in b.stateDictionary() { #expect(t.floats() == d[k]!.floats(), "\(k)") }
        b.freeze { $0.hasPrefix("embed") }
        #expect(b.trainableParameters().map { $0.0 }.allSatisfy { !$0.hasPrefix("embed") })
        #expect(!b.embed.weight.parameter!.value.requiresGradient)
    }

    @Test func linearLayoutsAgree() {
        var g = RandomGenerator(seed: 2)
        let w = Tensor.normal([3, 4], generator: &g), x = Tensor.normal([2, 5, 4], generator: &g)
        let a = Linear(inFeatures: 4, outFeatures: 3), b = Linear(inFeatures: 4, outFeatures: 3, layout: .inOut)
        a.weight.parameter!.value = w
        b.weight.parameter!.value = w.matrixTransposed.contiguous()
        let ya = a(x).floats(), yb = b(x).floats()
        #expect(zip(ya, yb).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(a(x).shape == [2, 5, 3])
    }

    @Test func quantizedQ8RowsAndMatmul() throws {
        // One row of two Q8_0 blocks: d = 0.5 (f16 0x3800), q = -16…15 then 0…31.
        var bytes: [UInt8] = []
        for block in 0..<2 {
            bytes += [0x00, 0x38]
            for j in 0..<32 { bytes.append(UInt8(bitPattern: Int8(block == 0 ? j - 16 : j))) }
        }
        let s = Storage(byteCount: bytes.count)
        bytes.withUnsafeBytes { s.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let q = try QuantizedMatrix(format: .q8_0, rows: 1, columns: 64, storage: s, byteOffset: 0)
        let expected = (0..<32).map { Float($0 - 16) * 0.5 } + (0..<32).map { Float($0) * 0.5 }
        #expect(q.dequantized().floats() == expected)
        let x = Tensor.ones([2, 64])
        #expect(q.matmulTransposed(x).floats() == [expected.reduce(0, +), expected.reduce(0, +)])
        #expect(throws: ModuleError.self) { try QuantizedMatrix(format: .q8_0, rows: 2, columns: 64, storage: s, byteOffset: 0) }
    }

    @Test func kvCacheAppends() {
        let c = KVCache(layerCount: 1, batchSize: 1, kvHeads: 2, headDimension: 2, capacity: 4)
        let k1 = Tensor([1, 2, 3, 4], shape: [1, 2, 1, 2])
        let (a, _) = c.append(layer: 0, keys: k1, values: k1)
        #expect(c.length == 1 && a.shape == [1, 2, 1, 2] && a.floats() == [1, 2, 3, 4])
        let k2 = Tensor([5, 6, 7, 8], shape: [1, 2, 1, 2])
        let (b, _) = c.append(layer: 0, keys: k2, values: k2)
        #expect(b.floats() == [1, 2, 5, 6, 3, 4, 7, 8])
        #expect(a.floats() == [1, 2, 3, 4])                           // the earlier view is unchanged
    }
}
