// Shared helpers for the checkpoint tests: fixture paths, byte builders, error-case matching, a seeded RNG.

import Foundation
import Testing
@testable import ScionCheckpoint

enum Fixtures {
    /// Tests/Fixtures/formats, found from this source file (no bundle resources needed).
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/formats").path

    static func path(_ name: String) -> String { directory + "/" + name }

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    static func floats(_ name: String) throws -> [Float] {
        let data = try bytes(name)
        return stride(from: 0, to: data.count, by: 4).map {
            Float(bitPattern: UInt32(data[$0]) | UInt32(data[$0 + 1]) << 8 | UInt32(data[$0 + 2]) << 16 | UInt32(data[$0 + 3]) << 24)
        }
    }

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(name)))) as! [String: Any]
    }
}

/// The enum case name of a CheckpointError ("offsetsOutOfBounds"), or a description of a foreign error.
func caseName(_ error: any Error) -> String {
    guard let e = error as? CheckpointError else { return "not a CheckpointError: \(error)" }
    return Mirror(reflecting: e).children.first?.label ?? "\(e)"
}

/// Expects `body` to throw the CheckpointError case named `expected`.
func expectCheckpointError(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected CheckpointError.\(expected), got success", sourceLocation: sourceLocation)
    } catch {
        #expect(caseName(error) == expected, "\(error)", sourceLocation: sourceLocation)
    }
}

/// A safetensors file from a header string and data bytes (no validation: for malformed cases).
func safetensorsBytes(_ header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { Array($0) }
    out += h
    out += data
    return out
}

/// Little-endian byte builder for hand-made GGUF headers.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(tensors)
        u64(kvs)
    }
    mutating func pad(to alignment: Int = 32) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

/// SplitMix64: a tiny seeded generator so failures reproduce from the printed seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func temporaryDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-ckpt-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Relative closeness used for dequantization checks: bitwise equal, or within 1e-6 relative.
func closeEnough(_ a: Float, _ b: Float) -> Bool {
    a.bitPattern == b.bitPattern || abs(a - b) <= 1e-6 * max(abs(a), abs(b))
}
