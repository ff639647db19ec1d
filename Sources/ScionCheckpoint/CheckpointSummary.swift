// A format-independent description of a checkpoint (tensors and metadata) for `scion inspect`.
// Reads headers only, never tensor data, so it is fast on multi-GB files. Not a loader.

import Foundation

/// What a checkpoint holds: its tensors (name, dtype, shape, bytes) and metadata, as a `Codable` value.
///
/// ```swift
/// let s = try CheckpointSummary.load(path: "model.safetensors")
/// let json = try JSONEncoder().encode(s)
/// ```
public struct CheckpointSummary: Sendable, Equatable, Codable {
    /// The file format.
    public enum Format: String, Sendable, Codable { case safetensors, gguf }

    /// One tensor.
    public struct TensorEntry: Sendable, Equatable, Codable {
        /// The name as stored in the file.
        public var name: String
        /// The format's type name (`F32`, `BF16`, `Q4_1`, …).
        public var dtype: String
        /// Row-major shape (GGUF's `ne` reversed).
        public var shape: [Int]
        /// Bytes of data.
        public var byteCount: Int
    }

    public var format: Format
    /// The file or folder summarised.
    public var path: String
    /// GGUF version; nil for safetensors.
    public var version: Int?
    /// Tensors in file order (shards in index order).
    public var tensors: [TensorEntry]
    /// safetensors `__metadata__` (plus a sharded index's `metadata`), or GGUF key/values.
    public var metadata: [String: JSONValue]
    /// Total elements over all tensors.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }
    /// Total tensor bytes.
    public var totalByteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }

    /// Summarises a safetensors file, a sharded safetensors folder, or a GGUF file (detected by its magic).
    ///
    /// - Parameters:
    ///   - path: file or folder.
    ///   - maxArrayCount: GGUF arrays longer than this (token lists) become `{"count": n, "first": [...]}`.
    /// - Throws: ``CheckpointError`` from the underlying reader.
    public static func load(path: String, maxArrayCount: Int = 16) throws -> CheckpointSummary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue, isGGUF(path) {
            let file = try GGUFFile(path: path)
            return CheckpointSummary(
                format: .gguf, path: path, version: Int(file.version),
                tensors: file.tensors.map { TensorEntry(name: $0.name, dtype: $0.type.name, shape: $0.shape, byteCount: $0.byteCount) },
                metadata: Dictionary(file.metadataEntries.map { ($0.key, $0.value.json(maxArrayCount: maxArrayCount)) },
                                     uniquingKeysWith: { a, _ in a }))
        }
        let checkpoint = try SafetensorsCheckpoint(path: path)
        var metadata = checkpoint.indexMetadata
        for file in checkpoint.files { for (k, v) in file.metadata { metadata[k] = .string(v) } }
        let tensors = checkpoint.files.flatMap { file in
            file.tensors.map { TensorEntry(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape, byteCount: $0.byteCount) }
        }
        return CheckpointSummary(format: .safetensors, path: path, version: nil, tensors: tensors, metadata: metadata)
    }

    private static func isGGUF(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }
}
