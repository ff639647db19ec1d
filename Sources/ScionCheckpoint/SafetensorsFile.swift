// safetensors reader: a memory-mapped file whose tensors are read lazily, zero-copy where aligned.
// Follows the format and validation rules of huggingface/safetensors (safetensors/src/tensor.rs):
// u64 LE header length, JSON header, tensors packed back to back with no gaps or overlaps.
// Every malformed case throws a typed ``CheckpointError`` naming the file and tensor.

import Foundation
import ScionTensor

/// The element types a safetensors file can hold (the header's `dtype` strings).
///
/// ScionTensor has no 8- or 16-bit signed integers; ``i16`` and ``i8`` are read as raw bytes
/// (``SafetensorsFile/withRawBytes(named:_:)``) or widened by ``SafetensorsFile/tensor(named:)``.
public enum SafetensorsDType: String, Sendable, CaseIterable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// The matching ScionTensor dtype, or nil for ``i16`` and ``i8``.
    public var tensorDType: DType? {
        switch self {
        case .f64: return .float64
        case .f32: return .float32
        case .f16: return .float16
        case .bf16: return .bfloat16
        case .i64: return .int64
        case .i32: return .int32
        case .u8: return .uint8
        case .bool: return .bool
        case .i16, .i8: return nil
        }
    }

    /// The safetensors dtype for a ScionTensor dtype.
    public init(_ dtype: DType) {
        switch dtype {
        case .float64: self = .f64
        case .float32: self = .f32
        case .float16: self = .f16
        case .bfloat16: self = .bf16
        case .int64: self = .i64
        case .int32: self = .i32
        case .uint8: self = .u8
        case .bool: self = .bool
        }
    }
}

/// One tensor's header entry.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's name (a Hugging Face state-dict key).
    public let name: String
    /// Element type.
    public let dtype: SafetensorsDType
    /// Shape, outermost dimension first.
    public let shape: [Int]
    /// Byte range `[begin, end)` relative to the start of the data section.
    public let dataOffsets: Range<Int>
    /// Number of bytes of data.
    public var byteCount: Int { dataOffsets.count }
    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped, validated safetensors file.
///
/// Opening parses and validates only the header; tensor data is touched when a tensor is read.
/// Tensors returned by ``tensor(named:)`` are zero-copy views over the mapping when their address is
/// aligned for the dtype (it is for files written by the reference library); the mapping stays alive
/// as long as any such tensor does.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let w = try file.tensor(named: "embeddings.word_embeddings.weight")   // [30522, 384] float32
/// ```
public final class SafetensorsFile: Sendable {
    /// Where the file was read from (or the label given to in-memory bytes).
    public let path: String
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// Tensor entries in data order.
    public let tensors: [SafetensorsTensorInfo]
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int
    private let index: [String: Int]
    let region: ByteRegion

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
        self.region = region
        path = region.path
        var cursor = ByteCursor(region: region)
        let headerLength = try cursor.read(UInt64.self, "header length")
        guard headerLength <= UInt64(cursor.remaining) else {
            throw CheckpointError.headerLengthOutOfRange(path: path, headerLength: headerLength, fileSize: region.count)
        }
        let header = try cursor.readBytes(Int(headerLength), "header")
        dataStart = 8 + Int(headerLength)
        let dataSize = region.count - dataStart
        let root: JSONNode
        do { root = try JSONParser.parse(header) } catch {
            throw CheckpointError.invalidJSON(path: path, reason: error.message)
        }
        guard case .object(let members) = root else {
            throw CheckpointError.invalidJSON(path: path, reason: "header is not a JSON object")
        }
        var seen = Set<String>()
        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, node) in members {
            guard seen.insert(name).inserted else { throw CheckpointError.duplicateName(path: path, name: name) }
            if name == "__metadata__" {
                guard case .object(let entries) = node else {
                    throw CheckpointError.invalidMetadata(path: path, key: name, reason: "not an object")
                }
                for (key, value) in entries {
                    guard case .string(let s) = value else {
                        throw CheckpointError.invalidMetadata(path: path, key: key, reason: "value is not a string")
                    }
                    guard metadata.updateValue(s, forKey: key) == nil else {
                        throw CheckpointError.duplicateName(path: path, name: "__metadata__.\(key)")
                    }
                }
                continue
            }
            infos.append(try Self.tensorInfo(name: name, node: node, dataSize: dataSize, path: path))
        }
        // Data ranges must tile [0, dataSize) exactly: sorted by start, each begins where the last ended.
        infos.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var expected = 0
        for info in infos {
            guard info.dataOffsets.lowerBound == expected else {
                throw CheckpointError.rangeNotContiguous(path: path, tensor: info.name, expectedBegin: UInt64(expected),
                                                         actualBegin: UInt64(info.dataOffsets.lowerBound))
            }
            expected = info.dataOffsets.upperBound
        }
        guard expected == dataSize else {
            throw CheckpointError.trailingData(path: path, expectedSize: UInt64(expected), actualSize: dataSize)
        }
        self.metadata = metadata
        tensors = infos
        index = Dictionary(infos.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private static func tensorInfo(name: String, node: JSONNode, dataSize: Int, path: String) throws -> SafetensorsTensorInfo {
        func bad(_ reason: String) -> CheckpointError { .invalidTensorInfo(path: path, tensor: name, reason: reason) }
        guard case .object(let fields) = node else { throw bad("entry is not an object") }
        var dtypeName: String?, shapeNode: JSONNode?, offsetsNode: JSONNode?
        for (key, value) in fields {
            switch key {
            case "dtype":
                guard case .string(let s) = value else { throw bad("dtype is not a string") }
                dtypeName = s
            case "shape": shapeNode = value
            case "data_offsets": offsetsNode = value
            default: continue
            }
        }
        guard let dtypeName else { throw bad("missing dtype") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard case .array(let dims)? = shapeNode else { throw bad("missing or non-array shape") }
        var shape: [Int] = []
        var elements = 1, nonZeroProduct = 1
        for d in dims {
            guard case .integer(let v) = d, v >= 0, v <= Int64(Int.max) else { throw bad("shape entry is not a non-negative integer") }
            shape.append(Int(v))
            let (m, overflow) = elements.multipliedReportingOverflow(by: Int(v))
            let (_, stridesOverflow) = nonZeroProduct.multipliedReportingOverflow(by: max(Int(v), 1))
            guard !overflow, !stridesOverflow else { throw bad("element count overflows") }
            elements = m
            nonZeroProduct *= max(Int(v), 1)  // NOTE: strides of a zero-size tensor still multiply the other dimensions.
        }
        guard case .array(let offs)? = offsetsNode, offs.count == 2,
              case .integer(let b) = offs[0], case .integer(let e) = offs[1], b >= 0, e >= 0 else {
            throw bad("data_offsets is not [begin, end] of non-negative integers")
        }
        guard b <= e else { throw bad("data_offsets end \(e) before begin \(b)") }
        guard e <= Int64(dataSize) else {
            throw CheckpointError.offsetsOutOfBounds(path: path, tensor: name, begin: UInt64(b), end: UInt64(e), dataSize: dataSize)
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == Int(e - b) else {
            throw CheckpointError.byteCountMismatch(path: path, tensor: name, shape: shape, dtype: dtype.rawValue,
                                                    expected: overflow ? Int.max : bytes, actual: Int(e - b))
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: Int(b)..<Int(e))
    }

    /// Tensor names in data order.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// The header entry for `name`.
    /// - Throws: ``CheckpointError/tensorNotFound(path:tensor:)``.
    public func info(named name: String) throws -> SafetensorsTensorInfo {
        guard let i = index[name] else { throw CheckpointError.tensorNotFound(path: path, tensor: name) }
        return tensors[i]
    }

    /// Calls `body` with the tensor's raw little-endian bytes (valid only inside `body`).
    public func withRawBytes<R>(named name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try info(named: name)
        return try body(region.buffer(dataStart + info.dataOffsets.lowerBound, info.byteCount))
    }

    /// A copy of the tensor's raw little-endian bytes.
    public func rawBytes(named name: String) throws -> [UInt8] {
        try withRawBytes(named: name) { Array($0) }
    }

    /// The tensor in its stored dtype: a zero-copy view when aligned, else a copy.
    ///
    /// ``SafetensorsDType/i16`` and ``SafetensorsDType/i8`` have no ScionTensor dtype and are widened
    /// exactly to `int32`.
    /// - Throws: ``CheckpointError/tensorNotFound(path:tensor:)``.
    public func tensor(named name: String) throws -> Tensor {
        let info = try info(named: name)
        let start = dataStart + info.dataOffsets.lowerBound
        guard let dtype = info.dtype.tensorDType else {
            let values = try withRawBytes(named: name) { Self.widenedIntegers($0, info.dtype) }
            return try wrap(name) { try values.withUnsafeBytes { try Tensor(bytes: $0, shape: info.shape, dtype: .int32) } }
        }
        let address = Int(bitPattern: region.base + start)
        if address % dtype.byteSize == 0 {
            return try wrap(name) { try Tensor(storage: region.storage, byteOffset: start, shape: info.shape, dtype: dtype) }
        }
        return try wrap(name) { try Tensor(bytes: region.buffer(start, info.byteCount), shape: info.shape, dtype: dtype) }
    }

    /// The tensor converted to `float32` (exact for every 16-bit float and small integer type).
    public func floatTensor(named name: String) throws -> Tensor {
        let info = try info(named: name)
        if info.dtype.tensorDType == nil {
            let values = try withRawBytes(named: name) { Self.widenedIntegers($0, info.dtype) }
            return Tensor(values.map { Float($0) }, shape: info.shape)
        }
        return try tensor(named: name).cast(.float32).contiguous()
    }

    private static func widenedIntegers(_ raw: UnsafeRawBufferPointer, _ dtype: SafetensorsDType) -> [Int32] {
        switch dtype {
        case .i16:
            return (0..<raw.count / 2).map { Int32(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
        default:
            return raw.map { Int32(Int8(bitPattern: $0)) }
        }
    }

    private func wrap(_ name: String, _ body: () throws -> Tensor) throws -> Tensor {
        do { return try body() } catch let e as TensorError {
            throw CheckpointError.invalidTensorInfo(path: path, tensor: name, reason: "\(e)")
        }
    }
}
