// ScionModels protocol conformance checks that need no checkpoint.

import Testing
import ScionModels
import ScionNN
import ScionTensor

@Suite struct ProtocolTests {
    @Test func callAsFunctionUsesNoCache() {
        final class Constant: LanguageModel {
            var entries: [ModuleEntry] { [] }
            var vocabularySize: Int { 3 }
            var maxPositions: Int { 8 }
            var layerCount: Int { 0 }
            func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
                #expect(cache == nil && attentionMask == nil)
                return Tensor.zeros(ids.shape + [3])
            }
            func hiddenStates(_ ids: Tensor) -> [Tensor] { [] }
            func makeCache(batchSize: Int, capacity: Int) -> KVCache {
                KVCache(layerCount: 0, batchSize: batchSize, kvHeads: 1, headDimension: 1, capacity: capacity)
            }
        }
        #expect(Constant()(Tensor(indices: [0, 1], shape: [1, 2])).shape == [1, 2, 3])
    }
}
