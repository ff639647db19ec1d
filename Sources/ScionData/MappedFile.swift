// A read-only memory map of a whole file (POSIX mmap), so cached token shards are paged in on
// demand rather than read into memory. Not a writer: shards are written with FileHandle.

import Foundation
#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A read-only mapping of a file; unmapped when released.
final class MappedFile: @unchecked Sendable {
    // NOTE: @unchecked is sound because the mapping is read-only and never changes after init.
    let base: UnsafeRawPointer?
    let byteCount: Int

    init(url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(path: url.path, reason: "open failed (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError.unreadable(path: url.path, reason: "fstat failed") }
        byteCount = Int(st.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let p = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw DataError.unreadable(path: url.path, reason: "mmap failed (errno \(errno))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
    }
}
