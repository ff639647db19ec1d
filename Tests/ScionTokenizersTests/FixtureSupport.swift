// Helpers for the tokenizer tests: locate fixtures next to this file and read expected.json.
// Fixtures come from Scripts/fixtures/make_tokenizer_fixtures.py (HF tokenizers 0.23.3).

import Foundation
import Testing

@testable import ScionTokenizers

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizers")

    static func url(_ name: String, _ file: String) -> URL {
        root.appendingPathComponent(name).appendingPathComponent(file)
    }

    struct Case {
        var text: String
        var ids: [Int]
        var idsNoSpecial: [Int]
        var attentionMask: [Int]
        var decoded: String
        var decodedWithSpecial: String
    }

    static func expected(_ name: String) throws -> (cases: [Case], root: [String: Any]) {
        let data = try Data(contentsOf: url(name, "expected.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let raw = try #require(root["cases"] as? [[String: Any]])
        let cases = raw.map { c in
            Case(text: c["text"] as? String ?? "", ids: c["ids"] as? [Int] ?? [],
                 idsNoSpecial: c["ids_no_special"] as? [Int] ?? [],
                 attentionMask: c["attention_mask"] as? [Int] ?? [],
                 decoded: c["decoded"] as? String ?? "",
                 decodedWithSpecial: c["decoded_with_special"] as? String ?? "")
        }
        return (cases, root)
    }

    static func corpusLines() throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent("corpus.txt"), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    static func environment(_ key: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[key], !v.isEmpty else { return nil }
        return v
    }
}

/// Compares a tokenizer with the reference cases and records each mismatch with its text.
func checkAgainstReference(_ tokenizer: Tokenizer, _ cases: [Fixtures.Case], checkDecode: Bool = true,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    for c in cases {
        let withSpecial = tokenizer.encode(c.text, addSpecialTokens: true)
        let plain = tokenizer.encode(c.text, addSpecialTokens: false)
        #expect(withSpecial.ids == c.ids, "ids for \(c.text.debugDescription)", sourceLocation: sourceLocation)
        #expect(plain.ids == c.idsNoSpecial, "ids (no special) for \(c.text.debugDescription)",
                sourceLocation: sourceLocation)
        if !c.attentionMask.isEmpty {
            #expect(withSpecial.attentionMask == c.attentionMask, "mask for \(c.text.debugDescription)",
                    sourceLocation: sourceLocation)
        }
        if checkDecode {
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.decoded,
                    "decode for \(c.text.debugDescription)", sourceLocation: sourceLocation)
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: false) == c.decodedWithSpecial,
                    "decode with special for \(c.text.debugDescription)", sourceLocation: sourceLocation)
        }
    }
}
