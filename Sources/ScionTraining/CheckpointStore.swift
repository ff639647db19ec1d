// Training checkpoints in `RUN/checkpoints/step-N/`: the model as an HF folder (`model/`, with the
// lineage manifest `scion_lineage.json` when the trainer passes one), the
// optimizer's moments (`optimizer.safetensors`, exact float32) and step counts (`optimizer.json`),
// the trainer state (`trainer.json`: step, RNG, data position, history), and techniques' extra state
// (`extra-NAME.data`, e.g. an adapter's rank schedule).
// Atomicity: everything is written into a hidden temporary folder, each file fsynced, then the
// folder is renamed into place and the `latest` pointer replaced by rename. A kill at any moment
// leaves `latest` naming a complete checkpoint: the old one or the new one, never a torn one.

import Foundation
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor

/// A checkpoint read back.
public struct LoadedCheckpoint {
    /// The model's state dictionary.
    public var weights: [String: Tensor]
    /// The optimizer state.
    public var optimizer: OptimizerState
    /// The trainer state.
    public var state: TrainerState
    /// Extra states by name (`extra-NAME.data`).
    public var extras: [String: Data] = [:]
}

/// Writes, finds, reads and prunes a run's checkpoints.
public final class CheckpointStore: @unchecked Sendable {
    /// `RUN/checkpoints`.
    public let directory: URL
    /// How many checkpoints to keep.
    public var keep: Int
    /// Test hook: called with the name of each stage ("model", "optimizer", "trainer", "rename",
    /// "latest") just before it; throwing simulates a crash there.
    public var faultInjection: ((String) throws -> Void)?

    /// - Parameters:
    ///   - directory: The checkpoints folder (created when needed).
    ///   - keep: Checkpoints kept after each write.
    public init(directory: URL, keep: Int = 2) {
        self.directory = directory; self.keep = max(1, keep)
    }

    var latestFile: URL { directory.appendingPathComponent("latest") }

    /// The folder `latest` names, if any.
    public func latest() -> URL? {
        guard let s = try? String(contentsOf: latestFile, encoding: .utf8) else { return nil }
        let name = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { return nil }
        return directory.appendingPathComponent(name)
    }

    /// The step of the latest checkpoint.
    public func latestStep() -> Int? {
        latest().flatMap { Int($0.lastPathComponent.replacingOccurrences(of: "step-", with: "")) }
    }

    /// Writes step `step` atomically, points `latest` at it and prunes older checkpoints.
    ///
    /// - Returns: The checkpoint folder.
    /// - Throws: ``TrainingError/io(path:reason:)``.
    public func write(step: Int, model: any LanguageModel, optimizer: any Optimizer, state: TrainerState,
                      tokenizerJSON: Data?, extras: [String: Data] = [:], lineage: Lineage? = nil) throws -> URL {
        for name in extras.keys where name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            throw TrainingError.io(path: directory.path, reason: "extra state name \"\(name)\" must be letters, digits, - or _")
        }
        let fm = FileManager.default
        let name = "step-\(step)"
        let final = directory.appendingPathComponent(name)
        let tmp = directory.appendingPathComponent(".\(name).tmp-\(getpid())")
        if latest()?.lastPathComponent == name && fm.fileExists(atPath: final.path) { return final }
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try? fm.removeItem(at: tmp)
            try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
            try faultInjection?("model")
            try CheckpointStore.saveModel(model, to: tmp.appendingPathComponent("model"), tokenizerJSON: tokenizerJSON,
                                          lineage: lineage)
            try faultInjection?("optimizer")
            let o = optimizer.state()
            var tensors: [String: Tensor] = [:]
            var skeleton = o
            for (p, ps) in o.parameters {
                for (b, values) in ps.buffers { tensors["\(p)#\(b)"] = Tensor(values, shape: [values.count]) }
                skeleton.parameters[p]?.buffers = [:]
            }
            try SafetensorsWriter.write(tensors, metadata: ["format": "scion-optimizer"],
                                        to: tmp.appendingPathComponent("optimizer.safetensors").path)
            try CheckpointStore.encoder.encode(OptimizerSkeleton(state: skeleton, buffers: o.parameters.mapValues { Array($0.buffers.keys).sorted() }))
                .write(to: tmp.appendingPathComponent("optimizer.json"))
            try faultInjection?("trainer")
            try CheckpointStore.encoder.encode(state).write(to: tmp.appendingPathComponent("trainer.json"))
            for (name, data) in extras { try data.write(to: tmp.appendingPathComponent("extra-\(name).data")) }
            try CheckpointStore.syncTree(tmp)
            try faultInjection?("rename")
            if fm.fileExists(atPath: final.path) {
                // A complete folder for this step that `latest` does not name (a kill came between the
                // rename and the pointer): this run reached the same state again, so it is replaced.
                try fm.removeItem(at: final)
            }
            try fm.moveItem(at: tmp, to: final)
            CheckpointStore.syncDirectory(directory)
            try faultInjection?("latest")
            try writeLatest(name)
        } catch {
            if let e = error as? TrainingError { throw e }
            throw TrainingError.io(path: final.path, reason: "\(error)")
        }
        prune()
        return final
    }

    /// Replaces the `latest` pointer by rename.
    func writeLatest(_ name: String) throws {
        let tmp = directory.appendingPathComponent(".latest.tmp-\(getpid())")
        try Data((name + "\n").utf8).write(to: tmp)
        CheckpointStore.syncFile(tmp)
        if rename(tmp.path, latestFile.path) != 0 {
            throw TrainingError.io(path: latestFile.path, reason: String(cString: strerror(errno)))
        }
        CheckpointStore.syncDirectory(directory)
    }

    /// Deletes all but the newest `keep` complete checkpoints (never the one `latest` names) and
    /// leftovers of interrupted writes.
    public func prune() {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return }
        let current = latest()?.lastPathComponent
        for n in names where n.hasPrefix(".step-") { try? fm.removeItem(at: directory.appendingPathComponent(n)) }
        let steps = names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("step-"), let s = Int(n.dropFirst(5)) else { return nil }
            return (s, n)
        }.sorted { $0.0 > $1.0 }
        for (i, (_, n)) in steps.enumerated() where i >= keep && n != current {
            try? fm.removeItem(at: directory.appendingPathComponent(n))
        }
    }

    /// Reads a checkpoint folder.
    ///
    /// - Throws: ``TrainingError/badCheckpoint(path:reason:)`` for a missing or malformed part.
    public static func read(_ url: URL) throws -> LoadedCheckpoint {
        func part<T>(_ what: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch {
                throw TrainingError.badCheckpoint(path: url.path, reason: "\(what): \(error)")
            }
        }
        let weights = try part("model") { try HFFolder(path: url.appendingPathComponent("model").path).tensors() }
        let skeleton = try part("optimizer.json") {
            try JSONDecoder().decode(OptimizerSkeleton.self, from: Data(contentsOf: url.appendingPathComponent("optimizer.json")))
        }
        var optimizer = skeleton.state
        try part("optimizer.safetensors") {
            let file = try SafetensorsFile(path: url.appendingPathComponent("optimizer.safetensors").path)
            for (p, names) in skeleton.buffers {
                for b in names { optimizer.parameters[p]?.buffers[b] = try file.tensor(named: "\(p)#\(b)").floats() }
            }
        }
        let state = try part("trainer.json") {
            try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: url.appendingPathComponent("trainer.json")))
        }
        var extras: [String: Data] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        for f in files where f.hasPrefix("extra-") && f.hasSuffix(".data") {
            extras[String(f.dropFirst(6).dropLast(5))] = try part(f) { try Data(contentsOf: url.appendingPathComponent(f)) }
        }
        return LoadedCheckpoint(weights: weights, optimizer: optimizer, state: state, extras: extras)
    }

    /// Saves a model as an HF folder, atomically, with tokenizer.json, the lineage manifest and any
    /// other side files given.
    ///
    /// - Parameters:
    ///   - lineage: Written as `scion_lineage.json` (``Lineage/fileName``) when given.
    ///   - extraFiles: More files by name (generation_config.json, …).
    /// - Throws: ``TrainingError/unsupported(_:)`` for a model that cannot be saved; `CheckpointError`
    ///   when `url` exists and `overwrite` is false, or writing fails (the old folder is then intact).
    public static func saveModel(_ model: any LanguageModel, to url: URL, tokenizerJSON: Data?,
                                 overwrite: Bool = true, lineage: Lineage? = nil, extraFiles: [String: Data] = [:]) throws {
        guard let m = model as? any TrainableLanguageModel else {
            throw TrainingError.unsupported("\(type(of: model)) cannot be saved as an HF folder")
        }
        var files = extraFiles
        if let tokenizerJSON { files["tokenizer.json"] = tokenizerJSON }
        if let lineage { files[Lineage.fileName] = try lineage.jsonData() }
        try AtomicFolder.write(to: url.path, overwrite: overwrite) { tmp in
            try m.save(to: tmp, overwrite: true)
            for (name, data) in files { try data.write(to: URL(fileURLWithPath: tmp).appendingPathComponent(name)) }
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    struct OptimizerSkeleton: Codable {
        var state: OptimizerState
        var buffers: [String: [String]]
    }

    // MARK: Durability

    static func syncFile(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func syncDirectory(_ url: URL) { syncFile(url) }

    static func syncTree(_ url: URL) throws {
        let fm = FileManager.default
        if let e = fm.enumerator(at: url, includingPropertiesForKeys: nil) {
            for case let f as URL in e { syncFile(f) }
        }
        syncFile(url)
    }
}
