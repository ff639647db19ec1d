// A fast, non-cryptographic 64-bit content hash used to fingerprint caches (source files, tokenizer,
// options). It only has to notice changes, not resist attackers; it is defined here byte for byte
// so the same input hashes the same on every platform and Swift version (unlike `Hasher`).

import Foundation

/// A streaming 64-bit hash: 8-byte words mixed with multiply–rotate, finalized with SplitMix64.
struct StableHash {
    private var h: UInt64 = 0x243F_6A88_85A3_08D3
    private var length: UInt64 = 0

    init() {}

    private mutating func mix(_ w: UInt64) {
        h ^= w &* 0x9E37_79B9_7F4A_7C15
        h = (h << 27 | h >> 37) &* 0xC2B2_AE3D_27D4_EB4F &+ 0x1656_67B1_9E37_79F9
    }

    /// Adds bytes.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        var i = 0
        while i + 8 <= n {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        mix(tail ^ 0xFF)
        length &+= UInt64(n)
    }

    mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }

    mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// The hash as 16 lowercase hex digits.
    func finalize() -> String {
        var x = h ^ length
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        let hex = String(x, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func of(_ data: Data) -> String {
        var s = StableHash()
        s.update(data)
        return s.finalize()
    }

    static func of(_ string: String) -> String {
        var s = StableHash()
        s.update(string)
        return s.finalize()
    }
}
