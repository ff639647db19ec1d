// safetensors writer: header with `__metadata__`, tensors packed back to back, written atomically.
// Follows huggingface/safetensors' serializer: header padded with spaces to a multiple of 8 and tensors
// ordered by decreasing element size then name, so every tensor is naturally aligned for zero-copy reads.

import Foundation
import ScionTensor

/// One tensor to write, as raw little-endian bytes (lets callers write ``SafetensorsDType/i16`` and ``SafetensorsDType/i8``).
public struct SafetensorsEntry: Sendable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An entry holding `tensor`'s elements in its own dtype.
    public init(name: String, tensor: Tensor) {
        self.init(name: name, dtype: SafetensorsDType(tensor.dtype), shape: tensor.shape, bytes: tensor.bytes())
    }
}

/// Writes safetensors files.
public enum SafetensorsWriter {
    /// Writes `tensors` (in their own dtypes) and string `metadata` to `path`, atomically.
    /// - Throws: ``CheckpointError/io(path:reason:)`` when the file cannot be written.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        try write(entries: tensors.map { SafetensorsEntry(name: $0.key, tensor: $0.value) }, metadata: metadata, to: path)
    }

    /// Writes raw entries and string `metadata` to `path`, atomically (temp file, fsync, rename).
    /// - Throws: ``CheckpointError/byteCountMismatch(path:tensor:shape:dtype:expected:actual:)`` or
    ///   ``CheckpointError/duplicateName(path:name:)`` for bad entries; ``CheckpointError/io(path:reason:)``.
    public static func write(entries: [SafetensorsEntry], metadata: [String: String] = [:], to path: String) throws {
        let (header, ordered) = try serializeHeader(entries: entries, metadata: metadata, path: path)
        try AtomicFile.write(to: path) { handle in
            try handle.write(contentsOf: header)
            for e in ordered where !e.bytes.isEmpty { try handle.write(contentsOf: e.bytes) }
        }
    }

    /// The whole file as bytes (for small files and tests).
    public static func serialize(entries: [SafetensorsEntry], metadata: [String: String] = [:]) throws -> [UInt8] {
        let (header, ordered) = try serializeHeader(entries: entries, metadata: metadata, path: "<memory>")
        return ordered.reduce(into: header) { $0 += $1.bytes }
    }

    /// The header bytes and the entries in file order. With `sizesOnly`, entries carry no bytes and
    /// their sizes come from dtype × shape (the lineage digest hashes tensors one at a time).
    static func serializeHeader(entries: [SafetensorsEntry], metadata: [String: String],
                                path: String, sizesOnly: Bool = false) throws -> ([UInt8], [SafetensorsEntry]) {
        var names = Set<String>()
        for e in entries {
            guard e.name != "__metadata__", names.insert(e.name).inserted else {
                throw CheckpointError.duplicateName(path: path, name: e.name)
            }
            let n = e.shape.reduce(1, *) * e.dtype.byteSize
            guard e.shape.allSatisfy({ $0 >= 0 }), sizesOnly || n == e.bytes.count else {
                throw CheckpointError.byteCountMismatch(path: path, tensor: e.name, shape: e.shape, dtype: e.dtype.rawValue,
                                                        expected: n, actual: e.bytes.count)
            }
        }
        let ordered = entries.sorted { ($1.dtype.byteSize, $0.name) < ($0.dtype.byteSize, $1.name) }
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
            parts.append("\"__metadata__\":{\(m.joined(separator: ","))}")
        }
        var offset = 0
        for e in ordered {
            let shape = e.shape.map(String.init).joined(separator: ",")
            let size = sizesOnly ? e.shape.reduce(1, *) * e.dtype.byteSize : e.bytes.count
            parts.append("\(jsonQuoted(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var json = Array("{\(parts.joined(separator: ","))}".utf8)
        // Pad with spaces so the data section starts 8-byte aligned.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var header = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        header += json
        return (header, ordered)
    }
}
