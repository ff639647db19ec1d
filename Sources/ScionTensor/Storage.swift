// Immutable, shared element storage behind tensors.
// A Storage is written once by the op that creates it and read-only afterwards (tensor immutability
// is the invariant autograd relies on). Memory is 64-byte aligned for wide vector loads; a Storage
// can also wrap memory owned elsewhere (a memory-mapped file), kept alive by `owner`.

import Foundation

/// A block of raw bytes holding tensor elements. Shared between tensor views; never mutated after creation.
public final class Storage: @unchecked Sendable {
    /// Start of the elements.
    public let pointer: UnsafeMutableRawPointer
    /// Size in bytes.
    public let byteCount: Int
    /// False for memory borrowed from elsewhere (a mapped file, an optimizer's buffer).
    let ownsMemory: Bool
    private let owner: AnyObject?

    /// Allocates `byteCount` zeroed bytes, 64-byte aligned.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = StoragePool.allocate(byteCount)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        ownsMemory = true
        owner = nil
        MemoryStats.allocated(byteCount)
    }

    /// Allocates without zeroing (64-byte aligned); the creator must write every byte before any is read.
    public init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        pointer = StoragePool.allocate(byteCount)
        ownsMemory = true
        owner = nil
        MemoryStats.allocated(byteCount)
    }

    /// Wraps memory owned by `owner` (for example a memory-mapped file); the bytes must not change.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        ownsMemory = false
        self.owner = owner
    }

    deinit {
        if ownsMemory {
            StoragePool.release(pointer, byteCount)
            MemoryStats.freed(byteCount)
        }
    }
}

/// Bytes held by tensor storage (and kernel scratch buffers) in this process: live now and the peak.
/// Benchmarks and the trainer's accounting read it; memory-mapped checkpoints are not counted.
public enum MemoryStats {
    nonisolated(unsafe) private static var live = 0
    nonisolated(unsafe) private static var peak = 0
    private static let lock = NSLock()

    static func allocated(_ n: Int) {
        lock.lock(); live += n; if live > peak { peak = live }; lock.unlock()
    }

    static func freed(_ n: Int) { lock.lock(); live -= n; lock.unlock() }

    /// Bytes currently allocated.
    public static var liveBytes: Int { lock.lock(); defer { lock.unlock() }; return live }
    /// Highest `liveBytes` since the last ``resetPeak()``.
    public static var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
    /// Starts a new peak measurement from the current live size.
    public static func resetPeak() { lock.lock(); peak = live; lock.unlock() }
}

/// Reuses large freed buffers. glibc returns big blocks to the kernel on free and maps fresh pages on
/// the next allocation, so a training step that allocates the same large activations every step would
/// pay a page fault per 4 KiB each time (measured: 512×50257 matmul outputs ran 20-40% slower than
/// BLAS on a reused buffer). Buffers of at least 256 KiB are kept, by exact size class, up to a cap.
enum StoragePool {
    static let minimumPooledBytes = 256 << 10
    static let capacityBytes = 2 << 30
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var pooledBytes = 0
    private static let lock = NSLock()

    /// Size class: whole 64 KiB units, so near sizes share buffers.
    @inline(__always) static func sizeClass(_ n: Int) -> Int { (n + 0xFFFF) & ~0xFFFF }

    static func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumPooledBytes {
            let c = sizeClass(byteCount)
            lock.lock()
            if let p = free[c]?.popLast() {
                pooledBytes -= c
                lock.unlock()
                return p
            }
            lock.unlock()
            return UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 64)
        }
        return UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    static func release(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        if byteCount >= minimumPooledBytes {
            let c = sizeClass(byteCount)
            lock.lock()
            if pooledBytes + c <= capacityBytes {
                free[c, default: []].append(p)
                pooledBytes += c
                lock.unlock()
                return
            }
            lock.unlock()
        }
        p.deallocate()
    }

    /// Returns every pooled buffer to the system.
    static func drain() {
        lock.lock()
        for (_, ps) in free { for p in ps { p.deallocate() } }
        free = [:]; pooledBytes = 0
        lock.unlock()
    }
}
