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
    private let ownsMemory: Bool
    private let owner: AnyObject?

    /// Allocates `byteCount` zeroed bytes, 64-byte aligned.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        ownsMemory = true
        owner = nil
    }

    /// Allocates without zeroing; the creator must write every byte before sharing it.
    init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        ownsMemory = true
        owner = nil
    }

    /// Wraps memory owned by `owner` (for example a memory-mapped file); the bytes must not change.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        ownsMemory = false
        self.owner = owner
    }

    deinit {
        if ownsMemory { pointer.deallocate() }
    }
}
