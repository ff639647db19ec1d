// GGUF reader (versions 2 and 3): metadata, tensor infos, memory-mapped data, lazy per tensor.
// Follows the GGUF spec in ggml/docs/gguf.md and gguf-py's GGUFReader. Every count and length in the
// header is checked against the bytes that remain before anything is allocated, so a lying header
// yields a typed ``CheckpointError`` — never a trap, a hang, or a huge allocation.
// Shapes: ``GGUFTensor/dimensions`` is ggml's `ne` (innermost first); ``GGUFTensor/shape`` is the
// reversed, row-major (PyTorch / Hugging Face) order.

import Foundation
import ScionTensor

/// One tensor of a GGUF file: type, shapes and the still-quantized bytes.
///
/// Keeps the file's mapping alive. Blocks run along `dimensions[0]` (the last axis of ``shape``), so a
/// row of ``rowLength`` elements is ``rowByteCount`` contiguous bytes, which is what a quantized matmul
/// consumes (see ``dequantizeRow(_:into:)``).
public struct GGUFTensor: Sendable {
    /// The tensor's GGUF name (`blk.0.attn_q.weight`).
    public let name: String
    /// Element type.
    public let type: GGMLType
    /// ggml's `ne`: innermost (contiguous) dimension first.
    public let dimensions: [Int]
    /// Offset of the data from the start of the file's data section.
    public let offset: Int
    /// Size of the data in bytes.
    public let byteCount: Int
    let fileOffset: Int
    let region: ByteRegion

    /// Row-major shape (reversed ``dimensions``): `[out, in]` for a linear weight.
    public var shape: [Int] { dimensions.reversed() }
    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
    /// Elements per row (`ne[0]`).
    public var rowLength: Int { dimensions.first ?? 1 }
    /// Number of rows (all dimensions but the innermost).
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }
    /// Bytes per row.
    public var rowByteCount: Int { rowLength / type.blockSize * type.blockByteCount }

    /// The file's bytes as a ``Storage`` (zero-copy, keeps the mapping alive) and this tensor's offset in it.
    public var rawStorage: (storage: Storage, byteOffset: Int) { (region.storage, fileOffset) }

    /// Calls `body` with the raw (quantized) bytes; the pointer is valid only inside `body`.
    public func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(region) { try body(region.buffer(fileOffset, byteCount)) }
    }

    /// A copy of the raw (quantized) bytes.
    public var rawData: Data { withRawBytes { Data($0) } }

    /// Dequantizes row `row` (`rowLength` floats) into `destination`.
    ///
    /// - Parameters:
    ///   - row: the row index, `0 ..< rowCount` (a precondition).
    ///   - destination: room for ``rowLength`` floats.
    /// - Throws: ``CheckpointError/unsupportedOperation(path:tensor:reason:)`` for types without a dequantizer.
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) throws {
        precondition(row >= 0 && row < rowCount, "dequantizeRow: row \(row) out of 0..<\(rowCount) for \(name)")
        try checkDequantizable()
        withExtendedLifetime(region) {
            GGMLQuantization.dequantize(type, UnsafeRawPointer(region.base + fileOffset + row * rowByteCount),
                                        count: rowLength, into: destination)
        }
    }

    /// The whole tensor as float32, in row-major ``shape``.
    /// - Throws: ``CheckpointError/unsupportedOperation(path:tensor:reason:)`` for types without a dequantizer.
    public func dequantized() throws -> Tensor {
        try checkDequantizable()
        let n = elementCount
        var values = [Float](repeating: 0, count: n)
        withExtendedLifetime(region) {
            values.withUnsafeMutableBufferPointer { out in
                guard let dst = out.baseAddress else { return }
                GGMLQuantization.dequantize(type, UnsafeRawPointer(region.base + fileOffset), count: n, into: dst)
            }
        }
        return Tensor(values, shape: shape)
    }

    private func checkDequantizable() throws {
        guard type.canDequantize else {
            throw CheckpointError.unsupportedOperation(path: region.path, tensor: name, reason: "no dequantizer for \(type.name)")
        }
    }
}

/// A memory-mapped, validated GGUF file.
///
/// ```swift
/// let gguf = try GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// gguf.metadata["llama.block_count"]?.intValue          // 30
/// let q = try gguf.tensor(named: "blk.0.attn_q.weight")  // Q4_1, shape [576, 576]
/// let w = try q.dequantized()                            // float32 Tensor
/// ```
public final class GGUFFile: Sendable {
    /// Where the file was read from (or the label given to in-memory bytes).
    public let path: String
    /// GGUF version (2 or 3).
    public let version: UInt32
    /// Metadata key/value pairs in file order.
    public let metadataEntries: [(key: String, value: GGUFValue)]
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensor]
    /// Data alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte offset of the data section from the start of the file.
    public let dataOffset: Int
    private let index: [String: Int]

    /// The deepest array nesting accepted (real files use 1).
    static let maxArrayDepth = 8
    /// ggml's GGML_MAX_DIMS.
    static let maxDimensions = 4

    /// Maps and validates the file at `path`.
    /// - Throws: ``CheckpointError`` for I/O failures and every malformed-header case.
    public convenience init(path: String) throws {
        try self.init(region: ByteRegion(mapping: path))
    }

    /// Parses and validates in-memory bytes (copied); `label` stands in for the path in errors.
    public convenience init(bytes: [UInt8], label: String = "<memory>") throws {
        try self.init(region: ByteRegion(copying: bytes, label: label))
    }

    init(region: ByteRegion) throws {
        let path = region.path
        self.path = path
        var c = ByteCursor(region: region)
        guard c.remaining >= 4, try c.read(UInt32.self, "magic") == 0x4655_4747 else {
            throw CheckpointError.badMagic(path: path)
        }
        version = try c.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw CheckpointError.unsupportedVersion(path: path, version: version) }
        // Smallest tensor info: name length 8 + n_dims 4 + type 4 + offset 8; smallest KV: 8 + 4 + 1.
        let tensorCount = try c.readLength(elementSize: 24, "tensor count")
        let kvCount = try c.readLength(elementSize: 13, "metadata count")

        var entries: [(key: String, value: GGUFValue)] = []
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<kvCount {
            let key = try c.readString("metadata key")
            let rawType = try c.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw CheckpointError.invalidMetadata(path: path, key: key, reason: "unknown value type \(rawType)")
            }
            let value = try Self.readValue(&c, type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw CheckpointError.duplicateName(path: path, name: key) }
            entries.append((key, value))
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .uint32(let v) = a, v > 0, v & (v - 1) == 0 else {
                throw CheckpointError.invalidMetadata(path: path, key: "general.alignment", reason: "not a power-of-two uint32: \(a)")
            }
            alignment = Int(v)
        }

        struct Info { let name: String; let type: GGMLType; let dims: [Int]; let offset: Int; let bytes: Int }
        var infos: [Info] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try c.readString("tensor name")
            func bad(_ reason: String) -> CheckpointError { .invalidTensorInfo(path: path, tensor: name, reason: reason) }
            guard names.insert(name).inserted else { throw CheckpointError.duplicateName(path: path, name: name) }
            let nDims = try c.read(UInt32.self, "dimension count of '\(name)'")
            guard nDims <= UInt32(Self.maxDimensions) else { throw bad("\(nDims) dimensions (at most \(Self.maxDimensions))") }
            var dims: [Int] = []
            var elements = 1, nonZeroProduct = 1
            for _ in 0..<Int(nDims) {
                let d = try c.read(UInt64.self, "dimensions of '\(name)'")
                guard d <= UInt64(Int.max) else { throw bad("dimension \(d) too large") }
                let (m, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                let (_, rowsOverflow) = nonZeroProduct.multipliedReportingOverflow(by: max(Int(d), 1))
                guard !overflow, !rowsOverflow else { throw bad("element count overflows") }
                elements = m
                nonZeroProduct *= max(Int(d), 1)  // NOTE: rowCount multiplies the outer dimensions even when ne[0] is 0.
                dims.append(Int(d))
            }
            let rawType = try c.read(UInt32.self, "type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: "ggml type \(rawType)")
            }
            guard (dims.first ?? 1) % type.blockSize == 0, let bytes = type.byteCount(elementCount: elements) else {
                throw bad("ne[0] = \(dims.first ?? 1) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let offset = try c.read(UInt64.self, "offset of '\(name)'")
            guard offset % UInt64(alignment) == 0 else { throw bad("offset \(offset) not a multiple of alignment \(alignment)") }
            guard offset <= UInt64(region.count) else {
                throw CheckpointError.offsetsOutOfBounds(path: path, tensor: name, begin: offset, end: offset &+ UInt64(bytes),
                                                         dataSize: region.count)
            }
            infos.append(Info(name: name, type: type, dims: dims, offset: Int(offset), bytes: bytes))
        }
        // The data section starts at the next multiple of the alignment after the tensor infos.
        let dataOffset = (c.position + alignment - 1) / alignment * alignment
        let dataSize = max(0, region.count - dataOffset)
        var tensors: [GGUFTensor] = []
        for info in infos {
            guard info.offset <= dataSize - info.bytes || (info.bytes == 0 && info.offset <= dataSize) else {
                throw CheckpointError.offsetsOutOfBounds(path: path, tensor: info.name, begin: UInt64(info.offset),
                                                         end: UInt64(info.offset) + UInt64(info.bytes), dataSize: dataSize)
            }
            tensors.append(GGUFTensor(name: info.name, type: info.type, dimensions: info.dims, offset: info.offset,
                                      byteCount: info.bytes, fileOffset: dataOffset + info.offset, region: region))
        }
        self.metadataEntries = entries
        self.metadata = metadata
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.tensors = tensors
        index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private static func readValue(_ c: inout ByteCursor, type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try c.read(UInt8.self, what))
        case .int8: return .int8(try c.read(Int8.self, what))
        case .uint16: return .uint16(try c.read(UInt16.self, what))
        case .int16: return .int16(try c.read(Int16.self, what))
        case .uint32: return .uint32(try c.read(UInt32.self, what))
        case .int32: return .int32(try c.read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try c.read(UInt32.self, what)))
        case .bool: return .bool(try c.read(UInt8.self, what) != 0)
        case .string: return .string(try c.readString(what))
        case .uint64: return .uint64(try c.read(UInt64.self, what))
        case .int64: return .int64(try c.read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try c.read(UInt64.self, what)))
        case .array:
            guard depth < maxArrayDepth else {
                throw CheckpointError.invalidMetadata(path: c.path, key: key, reason: "arrays nested deeper than \(maxArrayDepth)")
            }
            let rawType = try c.read(UInt32.self, what)
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw CheckpointError.invalidMetadata(path: c.path, key: key, reason: "unknown array element type \(rawType)")
            }
            let n = try c.readLength(elementSize: elementType.minimumByteCount, "array \(what)")
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try readValue(&c, type: elementType, key: key, depth: depth + 1)) }
            return .array(elementType, items)
        }
    }

    /// Tensor names in file order.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// The tensor named `name`.
    /// - Throws: ``CheckpointError/tensorNotFound(path:tensor:)``.
    public func tensor(named name: String) throws -> GGUFTensor {
        guard let i = index[name] else { throw CheckpointError.tensorNotFound(path: path, tensor: name) }
        return tensors[i]
    }

    /// True when the file has a tensor named `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// `general.architecture` (for example `llama`), if present.
    public var architecture: String? { metadata["general.architecture"]?.stringValue }
}
