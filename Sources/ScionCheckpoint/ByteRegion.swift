// Read-only byte regions (a memory-mapped file or an owned copy) and a bounds-checked cursor over them.
// Not a general I/O layer: just what the checkpoint readers need to parse untrusted headers without
// ever reading past the end. The region object is the `owner` of every zero-copy ``Storage`` view,
// so a mapping lives exactly as long as some tensor or reader still uses it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ScionTensor

/// Immutable bytes: an mmap'd file (unmapped in `deinit`) or an aligned private copy.
final class ByteRegion: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int
    let path: String
    private let isMapped: Bool
    private var sharedStorage: Storage?
    private let storageLock = NSLock()

    /// Maps `path` read-only.
    init(mapping path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.io(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.io(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            // mmap rejects length 0; an empty file is an owned 1-byte buffer with count 0.
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            count = 0
            isMapped = false
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CheckpointError.io(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
        count = size
        isMapped = true
    }

    /// Copies `bytes` into a 64-byte-aligned private buffer (used for in-memory parsing and tests).
    init(copying bytes: some Collection<UInt8>, label: String) {
        path = label
        count = bytes.count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        let buffer = UnsafeMutableRawBufferPointer(start: base, count: count)
        buffer.copyBytes(from: bytes)
        isMapped = false
    }

    deinit {
        if isMapped { munmap(base, count) } else { base.deallocate() }
    }

    /// One ``Storage`` covering the whole region, shared by every tensor view into it.
    var storage: Storage {
        storageLock.lock()
        defer { storageLock.unlock() }
        if let s = sharedStorage { return s }
        let s = Storage(borrowing: base, byteCount: count, owner: self)
        sharedStorage = s
        return s
    }

    func buffer(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && offset <= count - length, "ByteRegion: range out of bounds")
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }
}

/// A forward cursor that throws ``CheckpointError/truncated(path:offset:needed:what:)`` instead of over-reading.
struct ByteCursor {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var position: Int = 0

    init(region: ByteRegion, start: Int = 0) {
        base = UnsafeRawPointer(region.base)
        count = region.count
        path = region.path
        position = start
    }

    var remaining: Int { count - position }

    func require(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw CheckpointError.truncated(path: path, offset: position, needed: n, what: what())
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    /// A u64 length that must fit the remaining bytes when each element needs at least `elementSize` bytes.
    mutating func readLength(elementSize: Int, _ what: @autoclosure () -> String) throws -> Int {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(remaining / max(elementSize, 1)) else {
            throw CheckpointError.truncated(path: path, offset: position, needed: Int(clamping: raw), what: what())
        }
        return Int(raw)
    }

    mutating func readBytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(n, what())
        defer { position += n }
        return UnsafeRawBufferPointer(start: base + position, count: n)
    }

    /// A GGUF string: u64 byte length then UTF-8 bytes (invalid UTF-8 is repaired, not rejected).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let n = try readLength(elementSize: 1, what())
        let bytes = try readBytes(n, what())
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Writes a file atomically: a temporary file in the same directory, fsync, then rename over `path`.
enum AtomicFile {
    static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let temp = dir + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: temp, contents: nil) else {
            throw CheckpointError.io(path: path, reason: "cannot create temporary file in \(dir)")
        }
        var done = false
        defer { if !done { unlink(temp) } }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
            defer { try? handle.close() }
            try body(handle)
            try handle.synchronize()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.io(path: path, reason: "\(error)")
        }
        guard rename(temp, path) == 0 else {
            throw CheckpointError.io(path: path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        done = true
    }
}
