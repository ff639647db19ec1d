// Key/value cache for autoregressive decoding. Each layer owns a preallocated buffer
// [B, Hkv, capacity, D]; `append` writes new entries past the cached length and returns views of
// the first `length + T` positions. Earlier views stay valid: writes only fill slots beyond every
// region previously handed out (the one place Scion writes into existing storage; inference only).

import Foundation
import ScionTensor

/// Per-layer key/value buffers for decoding.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int, batchSize: Int, kvHeads: Int, headDimension: Int, capacity: Int
    public let dtype: DType
    /// Positions cached so far (the same for every layer once a forward pass completes).
    public private(set) var length = 0
    private var keys: [Storage], values: [Storage]
    private var pending: [Int]

    public init(layerCount: Int, batchSize: Int, kvHeads: Int, headDimension: Int, capacity: Int,
                dtype: DType = .float32) {
        self.layerCount = layerCount; self.batchSize = batchSize; self.kvHeads = kvHeads
        self.headDimension = headDimension; self.capacity = capacity; self.dtype = dtype
        let bytes = batchSize * kvHeads * capacity * headDimension * dtype.byteSize
        keys = (0..<layerCount).map { _ in Storage(byteCount: bytes) }
        values = (0..<layerCount).map { _ in Storage(byteCount: bytes) }
        pending = [Int](repeating: 0, count: layerCount)
    }

    /// Bytes held by the buffers.
    public var byteCount: Int { 2 * layerCount * batchSize * kvHeads * capacity * headDimension * dtype.byteSize }

    /// Appends k, v [B, Hkv, T, D] for `layer` and returns the cached keys and values [B, Hkv, length + T, D].
    public func append(layer: Int, keys k: Tensor, values v: Tensor) -> (keys: Tensor, values: Tensor) {
        let t = k.shape[2]
        precondition(k.shape == [batchSize, kvHeads, t, headDimension] && v.shape == k.shape && k.dtype == dtype,
                     "KVCache.append: keys \(k.shape), values \(v.shape) for cache [\(batchSize), \(kvHeads), _, \(headDimension)] \(dtype)")
        precondition(length + t <= capacity, "KVCache.append: \(length) + \(t) positions exceed capacity \(capacity)")
        let total = length + t
        func write(_ x: Tensor, into s: Storage) -> Tensor {
            let src = x.contiguous().cast(dtype).bytes()
            let rowBytes = headDimension * dtype.byteSize
            src.withUnsafeBytes { raw in
                for b in 0..<batchSize {
                    for h in 0..<kvHeads {
                        let dst = s.pointer + ((b * kvHeads + h) * capacity + length) * rowBytes
                        let from = raw.baseAddress! + ((b * kvHeads + h) * t) * rowBytes
                        dst.copyMemory(from: from, byteCount: t * rowBytes)
                    }
                }
            }
            // A view of positions 0..<total over the buffer [B, Hkv, capacity, D].
            // The buffer is valid, so the view cannot fail.
            let full = (try? Tensor(storage: s, byteOffset: 0, shape: [batchSize, kvHeads, capacity, headDimension], dtype: dtype))!
            return full.sliced(axis: 2, 0..<total)
        }
        let result = (write(k, into: keys[layer]), write(v, into: values[layer]))
        pending[layer] = t
        if pending.allSatisfy({ $0 == t }) {
            length = total
            pending = [Int](repeating: 0, count: layerCount)
        }
        return result
    }

    /// Forgets everything (the buffers are reused).
    public func reset() { length = 0; pending = [Int](repeating: 0, count: layerCount) }
}
