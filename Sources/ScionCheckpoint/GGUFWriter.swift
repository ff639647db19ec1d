// GGUF v3 writer: metadata of every value type plus tensors in F32, F16, BF16, Q8_0, Q4_0, Q4_1 (or raw
// blocks of any type), alignment 32 (or `general.alignment`), written atomically.
// Follows the GGUF spec (ggml/docs/gguf.md) and the layout gguf-py's GGUFWriter produces, so the
// `gguf` Python package reads the result (checked by Scripts/fixtures/check_scion_gguf.py).

import Foundation
import ScionTensor

/// Builds a GGUF file in memory and writes it.
///
/// ```swift
/// var w = GGUFWriter(architecture: "llama")
/// w.set("llama.block_count", .uint32(2))
/// try w.addTensor(name: "blk.0.attn_q.weight", tensor: q, type: .q8_0)   // q: [out, in]
/// try w.write(to: "tiny.gguf")
/// ```
public struct GGUFWriter: Sendable {
    /// Metadata in write order.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    private var tensors: [(name: String, type: GGMLType, dimensions: [Int], bytes: [UInt8])] = []

    /// An empty writer; with an architecture, `general.architecture` is set first.
    public init(architecture: String? = nil) {
        if let architecture { set("general.architecture", .string(architecture)) }
    }

    /// Sets (or replaces, keeping its position) a metadata value.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    /// Adds a float tensor, converted or quantized to `type` with ggml's reference quantizer.
    ///
    /// - Parameters:
    ///   - tensor: any float dtype, row-major `shape` (stored as ne = reversed shape).
    ///   - type: one of ``GGMLQuantization/quantizableTypes``.
    /// - Throws: ``CheckpointError/invalidTensorInfo(path:tensor:reason:)`` when the type is not writable or
    ///   the last dimension is not a multiple of the block size; ``CheckpointError/duplicateName(path:name:)``.
    public mutating func addTensor(name: String, tensor: Tensor, type: GGMLType) throws {
        guard GGMLQuantization.quantizableTypes.contains(type) else {
            throw CheckpointError.invalidTensorInfo(path: "<writer>", tensor: name, reason: "cannot write \(type.name)")
        }
        guard (tensor.shape.last ?? 1) % type.blockSize == 0 else {
            throw CheckpointError.invalidTensorInfo(path: "<writer>", tensor: name,
                                                    reason: "last dimension of \(tensor.shape) not a multiple of \(type.blockSize)")
        }
        let values = tensor.cast(.float32).floats()
        try addRawTensor(name: name, type: type, shape: tensor.shape, bytes: GGMLQuantization.quantize(values, as: type))
    }

    /// Adds already-encoded blocks of any type (`shape` row-major).
    /// - Throws: ``CheckpointError/byteCountMismatch(path:tensor:shape:dtype:expected:actual:)`` when the bytes
    ///   do not match, ``CheckpointError/duplicateName(path:name:)``.
    public mutating func addRawTensor(name: String, type: GGMLType, shape: [Int], bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else { throw CheckpointError.duplicateName(path: "<writer>", name: name) }
        let n = shape.reduce(1, *)
        guard shape.count <= GGUFFile.maxDimensions, shape.allSatisfy({ $0 >= 0 }), (shape.last ?? 1) % type.blockSize == 0,
              let expected = type.byteCount(elementCount: n), expected == bytes.count else {
            throw CheckpointError.byteCountMismatch(path: "<writer>", tensor: name, shape: shape, dtype: type.name,
                                                    expected: type.byteCount(elementCount: n) ?? -1, actual: bytes.count)
        }
        tensors.append((name, type, shape.reversed(), bytes))
    }

    /// The whole file as bytes.
    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func putValue(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): put(x)
            case .int8(let x): put(x)
            case .uint16(let x): put(x)
            case .int16(let x): put(x)
            case .uint32(let x): put(x)
            case .int32(let x): put(x)
            case .float32(let x): put(x.bitPattern)
            case .bool(let b): put(UInt8(b ? 1 : 0))
            case .string(let s): putString(s)
            case .uint64(let x): put(x)
            case .int64(let x): put(x)
            case .float64(let x): put(x.bitPattern)
            case .array(let type, let items):
                put(type.rawValue)
                put(UInt64(items.count))
                for item in items { putValue(item) }
            }
        }
        let alignment: Int
        if case .uint32(let a)? = metadata.first(where: { $0.key == "general.alignment" })?.value, a > 0, a & (a - 1) == 0 {
            alignment = Int(a)
        } else {
            alignment = 32
        }
        put(UInt32(0x4655_4747))
        put(UInt32(3))
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key)
            put(value.type.rawValue)
            putValue(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            putString(t.name)
            put(UInt32(t.dimensions.count))
            for d in t.dimensions { put(UInt64(d)) }
            put(t.type.rawValue)
            put(UInt64(offset))
            offsets.append(offset)
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        pad()
        for t in tensors {
            out += t.bytes
            pad()
        }
        return out
    }

    /// Writes the file atomically (temporary file in the same folder, fsync, rename).
    /// - Throws: ``CheckpointError/io(path:reason:)``.
    public func write(to path: String) throws {
        let bytes = serialize()
        try AtomicFile.write(to: path) { try $0.write(contentsOf: bytes) }
    }
}
