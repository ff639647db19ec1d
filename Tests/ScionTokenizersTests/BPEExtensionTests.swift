// Merges extension of a trained BPE tokenizer (BPETrainer.extending): old ids and old merges are
// untouched, new tokens are appended after the old ids, decoding round-trips exactly, and expanding
// new ids into their old pieces gives back the old tokenizer's encoding of any text.

import Foundation
import Testing

@testable import ScionTokenizers

@Suite struct BPEExtensionTests {
    /// Hand-written German sentences (new-language text for the tests).
    static let german: [String] = [
        "Der Hund läuft über die Straße und die Katze schläft unter dem Tisch.",
        "Wir wollen heute Abend zusammen ins Kino gehen, wenn das Wetter schlecht bleibt.",
        "Die Kinder spielen im Garten, während die Eltern in der Küche kochen.",
        "Ich würde gern wissen, warum die Züge immer später kommen als geplant.",
        "Unser Nachbar hat einen neuen Wagen gekauft und fährt jeden Morgen zur Arbeit.",
        "Im Winter ist es draußen kalt, deshalb trinken wir warmen Tee und lesen Bücher.",
        "Die Regierung hat beschlossen, die Steuern für kleine Unternehmen zu senken.",
        "Nach dem Essen gehen wir spazieren und unterhalten uns über die Zukunft.",
    ]

    static func base() throws -> Data {
        let lines = try Fixtures.corpusLines()
        return try BPETrainer(vocabularySize: 400, specialTokens: ["<|endoftext|>"]).trainedJSON(on: Array(repeating: lines, count: 4).flatMap { $0 })
    }

    static func model(_ json: Data) throws -> [String: Any] {
        let root = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        return try #require(root["model"] as? [String: Any])
    }

    @Test func oldIDsAndMergesKeptNewTokensAppendedRoundTripExact() throws {
        let baseJSON = try Self.base()
        let old = try Tokenizer(jsonData: baseJSON)
        let ext = try BPETrainer(vocabularySize: 0).extending(baseJSON, on: Array(repeating: Self.german, count: 3).flatMap { $0 },
                                                              addingTokens: 60)
        #expect(ext.firstNewID == 400)
        #expect(ext.newTokens.count == 60 && ext.newMerges.count == 60 && ext.pieces.count == 60)
        let new = try ext.tokenizer()
        #expect(new.vocabularySize == 460)
        for id in 0..<400 { #expect(new.token(forID: id) == old.token(forID: id), "id \(id)") }
        for (i, t) in ext.newTokens.enumerated() {
            #expect(new.id(forToken: t) == 400 + i)
            #expect(old.id(forToken: t) == nil)
            #expect(ext.pieces[i].allSatisfy { $0 < 400 } && ext.pieces[i].count >= 2)
            #expect(old.decode(ext.pieces[i]) == new.decode([400 + i]), "pieces of \(t)")
        }
        // Old merges are a prefix of the new list, with the same spelling.
        let oldMerges = try #require(try Self.model(baseJSON)["merges"] as? [[String]])
        let newMerges = try #require(try Self.model(ext.tokenizerJSON)["merges"] as? [[String]])
        #expect(Array(newMerges.prefix(oldMerges.count)) == oldMerges)
        #expect(Array(newMerges.dropFirst(oldMerges.count)) == ext.newMerges)

        var shorter = 0, unchanged = 0
        for line in Self.german + (try Fixtures.corpusLines()) {
            let ids = new.encode(line, addSpecialTokens: false).ids
            let before = old.encode(line, addSpecialTokens: false).ids
            #expect(new.decode(ids) == line, "round trip of \(line.debugDescription)")
            // Expanding new ids into their old pieces gives exactly the old encoding.
            #expect(ids.flatMap { $0 >= 400 ? ext.pieces[$0 - 400] : [$0] } == before, "\(line.debugDescription)")
            if ids.count < before.count { shorter += 1 }
            if ids == before { unchanged += 1 }
        }
        #expect(shorter >= Self.german.count, "German lines got shorter: \(shorter)")
        #expect(unchanged > 0, "some old text keeps its ids exactly")
    }

    @Test func deterministicStringMergesAndFirstID() throws {
        // The GPT-2 fixture (pair-format merges) rewritten with "a b" string merges, as older files store them.
        let data = try Data(contentsOf: Fixtures.url("gpt2", "tokenizer.json"))
        var root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var model = try #require(root["model"] as? [String: Any])
        let pairs = try #require(model["merges"] as? [[String]])
        model["merges"] = pairs.map { $0.joined(separator: " ") }
        root["model"] = model
        let stringBase = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
        let trainer = BPETrainer(vocabularySize: 0, minimumFrequency: 2)
        let a = try trainer.extending(stringBase, on: Self.german, addingTokens: 25, firstID: 805)
        let b = try trainer.extending(stringBase, on: Self.german, addingTokens: 25, firstID: 805)
        #expect(a.tokenizerJSON == b.tokenizerJSON)
        #expect(a.firstNewID == 805)
        let merges = try #require(try Self.model(a.tokenizerJSON)["merges"] as? [String])
        #expect(merges.count == pairs.count + 25)
        #expect(Array(merges.prefix(pairs.count)) == pairs.map { $0.joined(separator: " ") })
        let tok = try a.tokenizer()
        #expect(tok.id(forToken: a.newTokens[0]) == 805)
        for line in Self.german { #expect(tok.decode(tok.encode(line, addSpecialTokens: false).ids) == line) }
    }

    @Test func badRequestsAreTypedErrors() throws {
        let baseJSON = try Self.base()
        let trainer = BPETrainer(vocabularySize: 0)
        #expect(throws: TokenizerError.invalidTrainingConfiguration(reason: "addingTokens must be at least 1, got 0")) {
            try trainer.extending(baseJSON, on: Self.german, addingTokens: 0)
        }
        #expect(throws: TokenizerError.invalidTrainingConfiguration(
            reason: "firstID 10 is below the base's 400 ids (old ids must not move)")) {
            try trainer.extending(baseJSON, on: Self.german, addingTokens: 5, firstID: 10)
        }
        #expect(throws: TokenizerError.self) { try trainer.extending(baseJSON, on: ["xq"], addingTokens: 5) }   // no pair twice
        let wordPiece = try Data(contentsOf: Fixtures.url("bert", "tokenizer.json"))
        #expect(throws: TokenizerError.self) { try trainer.extending(wordPiece, on: Self.german, addingTokens: 5) }
        #expect(throws: TokenizerError.self) { try trainer.extending(Data("{}".utf8), on: Self.german, addingTokens: 5) }
    }
}
