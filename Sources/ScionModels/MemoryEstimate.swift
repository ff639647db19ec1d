// How many bytes running a model needs — weights as stored (f32/f16 elements, quantized blocks),
// the KV cache for a context and batch, and activation headroom — and how many the machine has
// (Linux: MemAvailable from /proc/meminfo; elsewhere ProcessInfo.physicalMemory). An estimate to
// refuse hopeless loads early with `ModelLoadError.insufficientMemory`, not an allocator.

import Foundation
import ScionNN
import ScionTensor

/// Bytes a model needs for inference.
///
/// ```
/// weights     = Σ dense elements × dtype bytes + Σ quantized rows × row bytes
/// kvCache     = 2 × layers × batch × kvHeads × context × headDimension × cache dtype bytes
/// activations = 4 × batch × context × (vocabulary + 16 × hidden) + 64 MiB
/// ```
/// The activation term covers fp32 logits for every prompt position, a few [B, T, C] buffers
/// per layer in flight and the runtime's fixed overhead.
///
/// ```swift
/// let estimate = MemoryEstimate(model: model, contextLength: 2048)
/// try estimate.check()   // throws ModelLoadError.insufficientMemory(needed:available:)
/// ```
public struct MemoryEstimate: Sendable, Equatable, Codable {
    /// Weights as stored.
    public var weightBytes: Int
    /// The KV cache at the full context and batch.
    public var kvCacheBytes: Int
    /// Headroom for activations and overhead.
    public var activationBytes: Int

    /// The sum of the three parts.
    public var totalBytes: Int { weightBytes + kvCacheBytes + activationBytes }

    /// Fixed overhead included in ``activationBytes``.
    public static let fixedOverheadBytes = 64 << 20

    /// An estimate from its parts.
    public init(weightBytes: Int, kvCacheBytes: Int, activationBytes: Int) {
        self.weightBytes = weightBytes; self.kvCacheBytes = kvCacheBytes; self.activationBytes = activationBytes
    }

    /// An estimate from a model's shape, before its weights are read.
    ///
    /// - Parameters:
    ///   - weightBytes: Bytes of the stored weights (e.g. the tensors' byte ranges in the checkpoint).
    ///   - layerCount: Transformer layers.
    ///   - kvHeads: Key/value heads per layer.
    ///   - headDimension: Dimension per head.
    ///   - hiddenSize: Model width C.
    ///   - vocabularySize: V.
    ///   - contextLength: Positions to cache.
    ///   - batchSize: Sequences decoded together.
    ///   - cacheElementBytes: Bytes per cached element (4 for fp32).
    public init(weightBytes: Int, layerCount: Int, kvHeads: Int, headDimension: Int, hiddenSize: Int,
                vocabularySize: Int, contextLength: Int, batchSize: Int = 1, cacheElementBytes: Int = 4) {
        self.init(
            weightBytes: weightBytes,
            kvCacheBytes: 2 * layerCount * batchSize * kvHeads * contextLength * headDimension * cacheElementBytes,
            activationBytes: MemoryEstimate.activationBytes(hiddenSize: hiddenSize, vocabularySize: vocabularySize,
                                                            contextLength: contextLength, batchSize: batchSize))
    }

    /// An estimate for a constructed model (weights counted from its parameter tree; memory-mapped
    /// weights count in full because inference touches every one).
    ///
    /// - Parameters:
    ///   - model: The model.
    ///   - contextLength: Positions to cache; nil uses ``LanguageModel/maxPositions``.
    ///   - batchSize: Sequences decoded together.
    public init(model: any LanguageModel, contextLength: Int? = nil, batchSize: Int = 1) {
        let context = contextLength ?? model.maxPositions
        // A one-position cache tells the per-position bytes without knowing the model's head layout.
        let probe = model.makeCache(batchSize: 1, capacity: 1)
        let hidden = probe.kvHeads * probe.headDimension
        self.init(weightBytes: MemoryEstimate.weightBytes(of: model),
                  kvCacheBytes: probe.byteCount * context * batchSize,
                  activationBytes: MemoryEstimate.activationBytes(hiddenSize: hidden, vocabularySize: model.vocabularySize,
                                                                  contextLength: context, batchSize: batchSize))
    }

    /// Bytes of every weight of `module` as stored (tied weights once).
    public static func weightBytes(of module: any Module) -> Int {
        module.namedLeaves().reduce(0) { total, leaf in
            switch leaf.1 {
            case .parameter(let p): return total + p.value.count * p.value.dtype.byteSize
            case .quantized(let q): return total + q.byteCount
            }
        }
    }

    /// The activation headroom term.
    public static func activationBytes(hiddenSize: Int, vocabularySize: Int, contextLength: Int, batchSize: Int) -> Int {
        4 * batchSize * contextLength * (vocabularySize + 16 * hiddenSize) + fixedOverheadBytes
    }

    /// Memory the system can give this process now, in bytes: MemAvailable on Linux, physical
    /// memory elsewhere.
    public static func availableMemory() -> Int {
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let available = parseMemAvailable(text) {
            return available
        }
        #endif
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// The MemAvailable line of /proc/meminfo ("MemAvailable:  123456 kB"), in bytes.
    static func parseMemAvailable(_ meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// Throws when the estimate exceeds the memory available.
    ///
    /// - Parameter available: Bytes available; defaults to ``availableMemory()``.
    /// - Throws: `ModelLoadError.insufficientMemory(needed:available:)` carrying ``totalBytes``.
    public func check(available: Int = MemoryEstimate.availableMemory()) throws {
        if totalBytes > available {
            throw ModelLoadError.insufficientMemory(needed: totalBytes, available: available)
        }
    }
}
