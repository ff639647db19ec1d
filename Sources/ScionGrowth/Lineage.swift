// The lineage manifest Scion writes beside config.json (`scion_lineage.json`): for every step from
// the seed checkpoint to this one, the parent's weight digest, the operator and its parameters, the
// Scion version and the time. A user traces a model back to its seed by reading the steps in order.

import Foundation
import ScionTensor

/// Where a checkpoint came from: the chain of operations from its seed, oldest first.
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
    public static func weightsDigest(folder path: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".safetensors") }.sorted()
        var data = Data()
        for n in names {
            guard let d = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(n)) else {
                throw GrowthError.invalidCheckpoint("cannot read \(n) in \(path)")
            }
            data.append(d)
        }
        return SHA256.hex(data)
    }
}
