// Writing a whole folder atomically: the caller fills a hidden temporary sibling, which then
// replaces the destination by rename, so a reader (or a crash) sees the old folder or the complete
// new one, never a half-written one. Used for model folders that get side files (tokenizer.json,
// the lineage manifest, a learngene manifest) beside the weights.

import Foundation

/// Builds a folder in a temporary sibling and moves it into place.
public enum AtomicFolder {
    /// Writes the folder at `path`: `body` receives a fresh temporary folder path to fill; when it
    /// returns, the files are synced and the folder replaces `path`.
    ///
    /// - Parameters:
    ///   - path: The destination folder.
    ///   - overwrite: Replace an existing `path` (otherwise an existing `path` is an error).
    ///   - body: Fills the temporary folder (it exists and is empty).
    /// - Throws: `CheckpointError.io` when `path` exists and `overwrite` is false, or a write or
    ///   rename fails; errors thrown by `body` (the temporary folder is then removed).
    public static func write(to path: String, overwrite: Bool, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !overwrite {
            throw CheckpointError.io(path: path, reason: "already exists (pass overwrite to replace it)")
        }
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        let tmp = parent + "/.\(url.lastPathComponent).folder-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot create a temporary folder in \(parent): \(error)")
        }
        var done = false
        defer { if !done { try? fm.removeItem(atPath: tmp) } }
        try body(tmp)
        if let e = fm.enumerator(atPath: tmp) {
            for case let name as String in e { sync(tmp + "/" + name) }
        }
        sync(tmp)
        do {
            if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
            try fm.moveItem(atPath: tmp, toPath: path)
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot move the folder into place: \(error)")
        }
        sync(parent)
        done = true
    }

    static func sync(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
