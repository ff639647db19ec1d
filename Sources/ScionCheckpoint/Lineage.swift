// The lineage manifest Scion writes beside config.json (`scion_lineage.json`): for every step from
// the seed checkpoint to this one, the parent's weight digest, the operator and its parameters, the
// Scion version and the time. A user traces a model back to its seed by reading the steps in order.
// It lives here, below both ScionTraining (which records "train" steps in every checkpoint it
// writes) and ScionGrowth (which records growth operators).

import Foundation
import ScionTensor

/// Where a checkpoint came from: the chain of operations from its seed, oldest first.
///
/// Growth operators (ScionGrowth) append a step per operator; the trainer (ScionTraining) appends a
/// `"train"` step (steps, tokens, data, config) to every checkpoint and model folder it writes.
///
/// ```json
/// {"steps": [{"operator": "gstack", "parameters": {"growth_factor": "4"},
///             "parent_sha256": "9f2c…", "parent_path": "runs/small", "scion_version": "0.1.0",
///             "created": "2026-11-30T11:20:00Z"}]}
/// ```
public struct Lineage: Codable, Sendable, Equatable {
    /// One operation: which operator made the checkpoint from which parent.
    public struct Step: Codable, Sendable, Equatable {
        /// The operator's registry name ("gstack", "insert", "widen", …).
        public var operatorName: String
        /// The operator's parameters as strings.
        public var parameters: [String: String]
        /// SHA-256 of the parent's safetensors bytes (files in name order), nil for an in-memory parent.
        public var parentSHA256: String?
        /// The parent folder as given, when it came from disk.
        public var parentPath: String?
        /// The Scion version that applied the operator.
        public var scionVersion: String
        /// ISO 8601 time of the operation.
        public var created: String

        enum CodingKeys: String, CodingKey {
            case operatorName = "operator", parameters, parentSHA256 = "parent_sha256", parentPath = "parent_path"
            case scionVersion = "scion_version", created
        }

        /// A step made now by this Scion version.
        public init(operatorName: String, parameters: [String: String], parentSHA256: String?, parentPath: String?) {
            self.operatorName = operatorName; self.parameters = parameters
            self.parentSHA256 = parentSHA256; self.parentPath = parentPath
            scionVersion = ScionVersion.string
            created = ISO8601DateFormatter().string(from: Date())
        }
    }

    /// The file name, written beside config.json.
    public static let fileName = "scion_lineage.json"

    /// The steps, oldest (nearest the seed) first.
    public var steps: [Step]

    /// An empty lineage (a seed checkpoint).
    public init(steps: [Step] = []) { self.steps = steps }

    /// This lineage with `step` appended.
    public func appending(_ step: Step) -> Lineage { Lineage(steps: steps + [step]) }

    /// The manifest as pretty, key-sorted JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads the manifest of the HF folder at `path`; nil when it has none (a seed).
    public static func read(folder path: String) throws -> Lineage? {
        let file = (path as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return try JSONDecoder().decode(Lineage.self, from: data)
    }

    /// SHA-256 over the folder's `*.safetensors` files, concatenated in name order.
    ///
    /// - Throws: `CheckpointError.io` when the folder or one of its files cannot be read.
    public static func weightsDigest(folder path: String) throws -> String {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".safetensors") }.sorted()
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot list the folder: \(error.localizedDescription)")
        }
        var hasher = SHA256()
        for n in names { try feed(file: (path as NSString).appendingPathComponent(n), into: &hasher) }
        return hasher.finalizeHex()
    }

    /// SHA-256 of one file's bytes (a GGUF parent).
    ///
    /// - Throws: `CheckpointError.io` when the file cannot be read.
    public static func fileDigest(_ path: String) throws -> String {
        var hasher = SHA256()
        try feed(file: path, into: &hasher)
        return hasher.finalizeHex()
    }

    /// The digest a parent has on disk: ``weightsDigest(folder:)`` for a folder, ``fileDigest(_:)`` for a file.
    ///
    /// - Throws: `CheckpointError.io` when `path` does not exist or cannot be read.
    public static func digest(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: path, reason: "does not exist")
        }
        return isDirectory.boolValue ? try weightsDigest(folder: path) : try fileDigest(path)
    }

    /// The ``weightsDigest(folder:)`` that `tensors` will have once saved as a single `model.safetensors`
    /// with metadata `{"format": "pt"}` (as `HFFolder.save` writes it), computed without writing:
    /// the digest of an in-memory model (a freshly initialized one has no folder).
    ///
    /// - Throws: `CheckpointError` for tensors the safetensors writer refuses.
    public static func digest(ofTensors tensors: [String: Tensor], metadata: [String: String] = ["format": "pt"]) throws -> String {
        let specs = tensors.map { SafetensorsEntry(name: $0.key, dtype: SafetensorsDType($0.value.dtype), shape: $0.value.shape, bytes: []) }
        let (header, ordered) = try SafetensorsWriter.serializeHeader(entries: specs, metadata: metadata, path: "<memory>",
                                                                      sizesOnly: true)
        var hasher = SHA256()
        hasher.update(header)
        for e in ordered { hasher.update(tensors[e.name]!.bytes()) }     // one tensor's bytes at a time
        return hasher.finalizeHex()
    }

    /// SHA-256 of `data`, lowercase hex (for data and config digests).
    public static func digest(of data: Data) -> String { SHA256.hex(data) }

    static func feed(file path: String, into hasher: inout SHA256) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CheckpointError.io(path: path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 22) ?? Data() } catch {
                throw CheckpointError.io(path: path, reason: "\(error)")
            }
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
    }
}
