// MemoryEstimate: the arithmetic of each term, weights counted as stored (dense and quantized,
// tied once), /proc/meminfo parsing, and the typed insufficient-memory error.

import Foundation
import Testing
@testable import ScionModels
import ScionNN
import ScionTensor

@Suite struct MemoryEstimateTests {
    @Test func shapeArithmetic() {
        // GPT-2 124M: 12 layers, 12 heads × 64, C 768, V 50257, context 1024, fp32.
        let e = MemoryEstimate(weightBytes: 497_759_232, layerCount: 12, kvHeads: 12, headDimension: 64,
                               hiddenSize: 768, vocabularySize: 50257, contextLength: 1024)
        #expect(e.kvCacheBytes == 2 * 12 * 12 * 1024 * 64 * 4)   // 75,497,472
        #expect(e.activationBytes == 4 * 1024 * (50257 + 16 * 768) + MemoryEstimate.fixedOverheadBytes)
        #expect(e.totalBytes == e.weightBytes + e.kvCacheBytes + e.activationBytes)
        let batched = MemoryEstimate(weightBytes: 0, layerCount: 2, kvHeads: 1, headDimension: 8, hiddenSize: 8,
                                     vocabularySize: 10, contextLength: 16, batchSize: 3, cacheElementBytes: 2)
        #expect(batched.kvCacheBytes == 2 * 2 * 3 * 1 * 16 * 8 * 2)
    }

    @Test func weightsAreCountedAsStored() throws {
        final class Mixed: Module {
            let dense = Parameter(Tensor.zeros([10, 4]))
            let half = Parameter(Tensor.zeros([6], dtype: .float16))
            let q: QuantizedMatrix
            init() throws {
                // Q8_0: 34 bytes per block of 32 → 2 rows × 2 blocks = 136 bytes.
                q = try QuantizedMatrix(format: .q8_0, rows: 2, columns: 64, storage: Storage(byteCount: 136), byteOffset: 0)
            }
            var entries: [ModuleEntry] { [.parameter("a", dense), .parameter("tied", dense), .parameter("h", half), .quantized("q", q)] }
        }
        #expect(MemoryEstimate.weightBytes(of: try Mixed()) == 160 + 12 + 136)
    }

    @Test func modelEstimateUsesItsCacheLayout() {
        let model = ContextModel(vocabularySize: 13, maxPositions: 64)
        let e = MemoryEstimate(model: model, contextLength: 10, batchSize: 2)
        #expect(e.weightBytes == 13 * 13 * 4)
        #expect(e.kvCacheBytes == 2 * 1 * 2 * 1 * 10 * 1 * 4)
        #expect(MemoryEstimate(model: model).kvCacheBytes == 2 * 64 * 4)
    }

    @Test func parsesMemAvailable() {
        let meminfo = "MemTotal:       131072000 kB\nMemFree:         1000 kB\nMemAvailable:   65536000 kB\n"
        #expect(MemoryEstimate.parseMemAvailable(meminfo) == 65_536_000 * 1024)
        #expect(MemoryEstimate.parseMemAvailable("MemTotal: 1 kB\n") == nil)
        #expect(MemoryEstimate.availableMemory() > 0)
    }

    @Test func checkThrowsInsufficientMemoryWithTheEstimate() throws {
        let e = MemoryEstimate(weightBytes: 1000, kvCacheBytes: 200, activationBytes: 30)
        #expect(throws: ModelLoadError.insufficientMemory(needed: 1230, available: 1229)) { try e.check(available: 1229) }
        try e.check(available: 1230)
    }
}
