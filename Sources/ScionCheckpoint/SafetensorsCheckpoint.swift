// A safetensors checkpoint that may be sharded: one file, or a folder with `model.safetensors.index.json`
// (Hugging Face's `{"metadata": …, "weight_map": {tensor: shard file}}`) or a single `model.safetensors`.
// Follows transformers' `load_sharded_checkpoint` conventions; not a general directory scanner.

import Foundation
import ScionTensor

/// One safetensors file or a sharded folder, seen as a single name → tensor map.
///
/// ```swift
/// let ckpt = try SafetensorsCheckpoint(path: "/models/minilm")   // folder or file
/// let ids = try ckpt.tensor(named: "embeddings.position_ids")     // int64 [1, 512]
/// ```
public final class SafetensorsCheckpoint: Sendable {
    /// The file or folder given.
    public let path: String
    /// The opened shards.
    public let files: [SafetensorsFile]
    /// The index's `metadata` object (empty for a single file).
    public let indexMetadata: [String: JSONValue]
    private let location: [String: Int]

    /// Opens a file, or a folder holding `model.safetensors.index.json` or `model.safetensors`.
    /// - Throws: ``CheckpointError`` when the index is malformed, names a missing shard or tensor, or two
    ///   shards hold the same tensor.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue {
            let file = try SafetensorsFile(path: path)
            files = [file]
            indexMetadata = [:]
            location = Dictionary(file.tensorNames.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        let indexPath = path + "/model.safetensors.index.json"
        guard FileManager.default.fileExists(atPath: indexPath) else {
            let single = path + "/model.safetensors"
            guard FileManager.default.fileExists(atPath: single) else {
                throw CheckpointError.io(path: path, reason: "no model.safetensors.index.json or model.safetensors")
            }
            let file = try SafetensorsFile(path: single)
            files = [file]
            indexMetadata = [:]
            location = Dictionary(file.tensorNames.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        let region = try ByteRegion(mapping: indexPath)
        let root: JSONNode
        do { root = try JSONParser.parse(region.buffer(0, region.count)) } catch {
            throw CheckpointError.invalidJSON(path: indexPath, reason: error.message)
        }
        guard case .object(let members) = root else {
            throw CheckpointError.invalidJSON(path: indexPath, reason: "index is not a JSON object")
        }
        var weightMap: [(String, String)] = []
        var meta: [String: JSONValue] = [:]
        for (key, node) in members {
            if key == "metadata", case .object = node, case .object(let m) = node.value { meta = m }
            if key == "weight_map" {
                guard case .object(let entries) = node else {
                    throw CheckpointError.invalidJSON(path: indexPath, reason: "weight_map is not an object")
                }
                for (tensor, file) in entries {
                    guard case .string(let f) = file, !f.contains(".."), !f.hasPrefix("/") else {
                        throw CheckpointError.invalidJSON(path: indexPath, reason: "weight_map['\(tensor)'] is not a shard file name")
                    }
                    weightMap.append((tensor, f))
                }
            }
        }
        var shardIndex: [String: Int] = [:]
        var opened: [SafetensorsFile] = []
        var location: [String: Int] = [:]
        for (tensor, file) in weightMap {
            let i: Int
            if let known = shardIndex[file] { i = known } else {
                i = opened.count
                shardIndex[file] = i
                opened.append(try SafetensorsFile(path: path + "/" + file))
            }
            guard location.updateValue(i, forKey: tensor) == nil else {
                throw CheckpointError.duplicateName(path: indexPath, name: tensor)
            }
            _ = try opened[i].info(named: tensor)
        }
        // A tensor stored in a shard but claimed by another (or by none) is a broken index.
        for (i, file) in opened.enumerated() {
            for name in file.tensorNames where location[name] != i {
                throw CheckpointError.duplicateName(path: file.path, name: name)
            }
        }
        files = opened
        indexMetadata = meta
        self.location = location
    }

    /// All tensor names, sorted.
    public var tensorNames: [String] { location.keys.sorted() }

    /// The shard holding `name`.
    public func file(containing name: String) throws -> SafetensorsFile {
        guard let i = location[name] else { throw CheckpointError.tensorNotFound(path: path, tensor: name) }
        return files[i]
    }

    /// The header entry for `name`.
    public func info(named name: String) throws -> SafetensorsTensorInfo { try file(containing: name).info(named: name) }

    /// The tensor in its stored dtype (see ``SafetensorsFile/tensor(named:)``).
    public func tensor(named name: String) throws -> Tensor { try file(containing: name).tensor(named: name) }

    /// The tensor converted to `float32`.
    public func floatTensor(named name: String) throws -> Tensor { try file(containing: name).floatTensor(named: name) }
}
