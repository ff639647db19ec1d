// Seeded mutation fuzzing of the safetensors and GGUF readers: truncations, flipped bytes, huge lengths
// and wrong counts. Every mutant must parse (and then read every tensor) or throw a CheckpointError —
// never trap, hang or allocate without bound. A failing seed and iteration are printed to reproduce.

import Foundation
import Testing
import ScionTensor
@testable import ScionCheckpoint

@Suite struct FuzzTests {
    static let iterations = 5000

    enum Format { case safetensors, gguf }

    /// A small GGUF with nested arrays, strings and several tensor types (quantized and plain).
    static func smallGGUF() throws -> [UInt8] {
        var w = GGUFWriter(architecture: "llama")
        w.set("a.strings", .array(.string, [.string("x"), .string("yy")]))
        w.set("a.nested", .array(.array, [.array(.uint8, [.uint8(1)]), .array(.uint8, [])]))
        w.set("a.f", .float32(1.5))
        let x = Tensor((0..<64).map { Float($0) / 7 }, shape: [2, 32])
        try w.addTensor(name: "q4", tensor: x, type: .q4_0)
        try w.addTensor(name: "q8", tensor: x, type: .q8_0)
        try w.addTensor(name: "h", tensor: x, type: .f16)
        try w.addRawTensor(name: "k", type: .q4_K, shape: [256], bytes: [UInt8](repeating: 0x11, count: 144))
        try w.addRawTensor(name: "k6", type: .q6_K, shape: [256], bytes: [UInt8](repeating: 0x21, count: 210))
        return w.serialize()
    }

    static func mutate(_ base: [UInt8], format: Format, using rng: inout SeededGenerator) -> [UInt8] {
        var b = base
        func putU64(_ v: UInt64, at i: Int) {
            for k in 0..<8 where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
        }
        let huge: [UInt64] = [.max, 1 << 63, 1 << 40, 1 << 32, 0xFFFF_FFFF, UInt64(base.count), UInt64(base.count) + 1, 0]
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !b.isEmpty else { break }
            switch Int.random(in: 0..<8, using: &rng) {
            case 7:
                // Rewrite a digit run (a JSON shape or offset) so the header stays parseable but lies.
                let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
                guard let i = digits.randomElement(using: &rng) else { break }
                let replacement = ["0", "1", "7", "99", "4294967296", "18446744073709551615", "-1"].randomElement(using: &rng)!
                b.replaceSubrange(i...i, with: Array(replacement.utf8))
            case 0: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            case 1: for _ in 0..<Int.random(in: 1...4, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            case 2: putU64(huge.randomElement(using: &rng)!, at: Int.random(in: 0..<b.count, using: &rng))
            case 3: putU64(UInt64.random(in: 0...UInt64(base.count * 2), using: &rng), at: Int.random(in: 0..<b.count, using: &rng))
            case 4:
                // Count and length fields: GGUF tensor/KV counts, safetensors header length.
                let spots = format == .gguf ? [8, 16, 24] : [0]
                putU64(huge.randomElement(using: &rng)! &+ UInt64.random(in: 0...3, using: &rng), at: spots.randomElement(using: &rng)!)
            case 5:
                let i = Int.random(in: 0..<b.count, using: &rng)
                b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...16, using: &rng)))
            default:
                let i = Int.random(in: 0...b.count, using: &rng)
                b.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            }
        }
        return b
    }

    /// Parses and, on success, reads every tensor; returns true when parsing succeeded.
    static func exercise(_ bytes: [UInt8], format: Format) throws -> Bool {
        switch format {
        case .safetensors:
            let file = try SafetensorsFile(bytes: bytes)
            for name in file.tensorNames {
                _ = try file.tensor(named: name).doubles()
                _ = try file.floatTensor(named: name).floats()
            }
        case .gguf:
            let file = try GGUFFile(bytes: bytes)
            for t in file.tensors where t.type.canDequantize {
                _ = try t.dequantized()
                if t.rowCount > 0 && t.rowLength > 0 {
                    var row = [Float](repeating: 0, count: t.rowLength)
                    try row.withUnsafeMutableBufferPointer { try t.dequantizeRow(t.rowCount - 1, into: $0.baseAddress!) }
                }
            }
            _ = file.metadataEntries.map { $0.value.json(maxArrayCount: 4) }
        }
        return true
    }

    @Test(arguments: [Format.safetensors, .gguf])
    func mutantsParseOrThrowTypedErrors(format: Format) throws {
        let base = format == .safetensors ? try Fixtures.bytes("all_dtypes.safetensors") : try Self.smallGGUF()
        #expect(try Self.exercise(base, format: format))
        let seed: UInt64 = format == .safetensors ? 0x5AFE : 0x6606
        var rng = SeededGenerator(seed: seed)
        var accepted = 0, rejected: [String: Int] = [:]
        let start = Date()
        for i in 0..<Self.iterations {
            let mutant = Self.mutate(base, format: format, using: &rng)
            do {
                if try Self.exercise(mutant, format: format) { accepted += 1 }
            } catch let error as CheckpointError {
                rejected[caseName(error), default: 0] += 1
            } catch {
                Issue.record("seed \(seed) iteration \(i): untyped error \(error)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds < 20, "fuzzing took \(seconds) s")
        #expect(accepted + rejected.values.reduce(0, +) == Self.iterations)
        #expect(rejected.count >= 3, "too few distinct errors: \(rejected)")
        print("fuzz \(format): \(accepted) accepted, rejected \(rejected.sorted { $0.key < $1.key }) in \(String(format: "%.1f", seconds)) s")
    }
}
