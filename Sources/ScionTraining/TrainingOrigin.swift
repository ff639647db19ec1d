// Where a training run starts from, and the lineage step it records: every checkpoint and model
// folder the trainer writes carries `scion_lineage.json` (ScionCheckpoint's `Lineage`) whose last
// step is operator "train" with the starting model's digest as parent and the run's steps, tokens,
// data and config as parameters. Starting from a folder continues that folder's own lineage, so a
// trained, grown and trained-again model traces back to its seed.

import Foundation
import ScionCheckpoint
import ScionData

/// The starting point of a training run, for the lineage manifest.
///
/// ```swift
/// let origin = try TrainingOrigin(folder: "runs/small-x4", data: "text:corpus.txt")
/// let trainer = try Trainer(config: config, model: model, data: data, origin: origin)
/// ```
public struct TrainingOrigin: Codable, Equatable, Sendable {
    /// The starting model's own lineage (empty for a fresh model or a seed checkpoint).
    public var lineage: Lineage
    /// SHA-256 of the starting weights: its folder's safetensors (``Lineage/weightsDigest(folder:)``)
    /// or, for a model that never was on disk, ``Lineage/digest(ofTensors:metadata:)``.
    public var parentSHA256: String?
    /// The folder (or GGUF file) the starting model was read from.
    public var parentPath: String?
    /// The training data: file paths, or a digest of an in-memory corpus.
    public var data: String
    /// More parameters of the "train" step (objective, teacher, adapter method, …).
    public var parameters: [String: String]

    /// An origin from parts.
    public init(lineage: Lineage = Lineage(), parentSHA256: String?, parentPath: String? = nil, data: String,
                parameters: [String: String] = [:]) {
        self.lineage = lineage; self.parentSHA256 = parentSHA256; self.parentPath = parentPath
        self.data = data; self.parameters = parameters
    }

    /// The origin of a model read from `path` (an HF folder or a GGUF file): its digest, and its
    /// lineage manifest when it has one.
    ///
    /// - Throws: `CheckpointError` when the path cannot be read.
    public init(folder path: String, data: String, parameters: [String: String] = [:]) throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let lineage = exists && isDirectory.boolValue ? try Lineage.read(folder: path) ?? Lineage() : Lineage()
        self.init(lineage: lineage, parentSHA256: try Lineage.digest(path: path), parentPath: path, data: data,
                  parameters: parameters)
    }

    /// The lineage of a model trained from this origin: ``lineage`` plus one "train" step.
    ///
    /// - Parameters:
    ///   - steps: Optimizer steps done.
    ///   - tokens: Supervised tokens trained on.
    ///   - config: The training config (recorded as compact JSON).
    public func lineage(steps: Int, tokens: Int, config: TrainingConfig) -> Lineage {
        var p = parameters
        p["steps"] = "\(steps)"
        p["tokens"] = "\(tokens)"
        p["data"] = data
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let json = try? e.encode(config) { p["config"] = String(decoding: json, as: UTF8.self) }
        return lineage.appending(Lineage.Step(operatorName: "train", parameters: p, parentSHA256: parentSHA256,
                                              parentPath: parentPath))
    }
}

extension TrainingData {
    /// How the lineage names this data: ``provenance`` when set, else the SHA-256 of the training
    /// documents' token ids (little-endian Int32, in document order) with their counts and the
    /// shuffling seed; corpora over 16M tokens are described by their counts alone.
    public var lineageDescription: String {
        if let provenance { return provenance }
        let docs = trainDocuments ?? Array(0..<corpus.documentCount)
        let tokens = docs.reduce(0) { $0 + corpus.documentLength($1) }
        let counts = "\(docs.count) documents, \(tokens) tokens, seed \(seed)"
        guard tokens <= 16_000_000 else { return "in-memory corpus (\(counts))" }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens * 4)
        for d in docs {
            for id in corpus.document(d).ids {
                withUnsafeBytes(of: Int32(truncatingIfNeeded: id).littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        return "sha256:\(Lineage.digest(of: Data(bytes))) (\(counts))"
    }
}
