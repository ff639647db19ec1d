// TokenCache: build, reuse, rebuild on change, id types and shard spanning, typed input errors.

import Foundation
import ScionTokenizers
import Testing

@testable import ScionData

@Suite struct TokenCacheTests {
    @Test func buildThenReuseThenRebuildWhenASourceChanges() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("a.txt")
        let jsonl = dir.appendingPathComponent("b.jsonl")
        try TestData.write("The cat sees a dog.\n\nMira lives in Dovren.\n", to: text)
        try TestData.write(#"{"text": "Two owls sleep."}"# + "\n" + #"{"text": "The boys run."}"# + "\n", to: jsonl)
        let sources: [DataSource] = [.text(text, splitting: .blankLines), .jsonl(jsonl)]
        let cacheDir = dir.appendingPathComponent("cache")
        let tok = TestData.tokenizer

        let first = try TokenCache.prepare(sources: sources, tokenizer: tok, directory: cacheDir)
        #expect(first.wasBuilt)
        #expect(first.documentCount == 4)
        let texts = ["The cat sees a dog.", "Mira lives in Dovren.", "Two owls sleep.", "The boys run."]
        for (i, t) in texts.enumerated() { #expect(first.document(i).ids == tok.tokenIDs(t)) }
        #expect(first.tokenCount == texts.map { tok.tokenIDs($0).count }.reduce(0, +))
        #expect(first.hasLossMask == false)
        #expect(first.index.sources.map(\.path) == [text.path, jsonl.path])

        let second = try TokenCache.prepare(sources: sources, tokenizer: tok, directory: cacheDir)
        #expect(!second.wasBuilt)
        #expect(second.index == first.index)

        try TestData.write(#"{"text": "Two owls sleep."}"# + "\n", to: jsonl)
        let third = try TokenCache.prepare(sources: sources, tokenizer: tok, directory: cacheDir)
        #expect(third.wasBuilt)
        #expect(third.documentCount == 3)
        #expect(third.index.fingerprint != first.index.fingerprint)
        // Old shards are gone: only the index and the files it names remain.
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: cacheDir.path))
        let named = Set(third.index.shards.map(\.tokens) + [third.index.documents, "index.json"])
        #expect(names == named)
        // A different tokenizer is a different cache.
        let other = try BPETrainer(vocabularySize: 280, specialTokens: ["<|endoftext|>"]).train(on: texts)
        let retokenized = try TokenCache.prepare(sources: sources, tokenizer: other, directory: cacheDir)
        #expect(retokenized.wasBuilt && retokenized.document(0).ids == other.tokenIDs("The cat sees a dog."))
        // A different splitting option is a different cache too.
        let whole = try TokenCache.prepare(sources: [.text(text), .jsonl(jsonl)], tokenizer: tok, directory: cacheDir)
        #expect(whole.wasBuilt && whole.documentCount == 2)
    }

    @Test(arguments: TokenElementType.allCases)
    func idTypesAndDocumentsSpanningShards(type: TokenElementType) throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("docs.jsonl")
        let docs = SyntheticCorpus.generate(documents: 12, seed: 4)
        try TestData.write(docs.map { #"{"body": "\#($0)"}"# }.joined(separator: "\n"), to: file)
        let cache = try TokenCache.prepare(
            sources: [.jsonl(file, textField: "body")], tokenizer: TestData.tokenizer,
            directory: dir.appendingPathComponent("c"),
            options: TokenCacheOptions(elementType: type, shardTokenCount: 37))
        #expect(cache.elementType == type)
        #expect(cache.index.shards.count == (cache.tokenCount + 36) / 37)
        for s in cache.index.shards {
            let size = try FileManager.default.attributesOfItem(
                atPath: cache.directory.appendingPathComponent(s.tokens).path)[.size] as? Int
            #expect(size == s.tokenCount * type.byteSize)
        }
        for (i, d) in docs.enumerated() {
            #expect(cache.document(i).ids == TestData.tokenizer.tokenIDs(d))
            #expect(cache.document(i, range: 3..<9).ids == Array(TestData.tokenizer.tokenIDs(d)[3..<9]))
        }
        let reopened = try TokenCache.open(directory: cache.directory)
        #expect(reopened.document(5) == cache.document(5))
    }

    @Test func foldersAreReadInPathOrderSkippingHiddenFiles() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try TestData.write("second\n\n  \nthird\r\nstill third", to: dir.appendingPathComponent("sub/b.txt"))
        try TestData.write("first", to: dir.appendingPathComponent("a.txt"))
        try TestData.write("hidden", to: dir.appendingPathComponent(".hidden.txt"))
        let docs = try SourceReader.documents(of: .text(dir, splitting: .blankLines))
        #expect(docs.map { $0.segments.map(\.text).joined() } == ["first", "second", "third\r\nstill third"])
        #expect(try SourceReader.documents(of: .text(dir)).count == 2)
    }

    @Test func automaticIDTypeIsUInt16ForSmallVocabularies() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a.txt")
        try TestData.write("The cat sleeps.", to: file)
        let cache = try TokenCache.prepare(sources: [.text(file)], tokenizer: TestData.tokenizer,
                                           directory: dir.appendingPathComponent("c"))
        #expect(cache.elementType == .uint16)
    }

    @Test func missingFileIsATypedError() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("nope.jsonl")
        #expect(throws: DataError.unreadable(path: missing.path, reason: "no such file or folder")) {
            _ = try TokenCache.prepare(sources: [.jsonl(missing)], tokenizer: TestData.tokenizer,
                                       directory: dir.appendingPathComponent("c"))
        }
    }

    @Test func unreadableFileIsATypedError() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A folder inside a text folder is skipped, but a dangling symbolic link cannot be read.
        let file = dir.appendingPathComponent("link.txt")
        try FileManager.default.createSymbolicLink(atPath: file.path, withDestinationPath: "/nonexistent/x")
        do {
            _ = try SourceReader.documents(of: .text(file))
            Issue.record("expected an error")
        } catch let DataError.unreadable(path, _) {
            #expect(path == file.path)
        }
    }

    @Test func badJSONNamesFileAndLine() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.jsonl")
        try TestData.write(#"{"text": "ok"}"# + "\n\n" + #"{"text": "broken"# + "\n", to: file)
        do {
            _ = try SourceReader.documents(of: .jsonl(file))
            Issue.record("expected an error")
        } catch let DataError.invalidJSON(path, line, _) {
            #expect(path == file.path && line == 3)
        }
        try TestData.write(#"{"text": "ok"}"# + "\n" + #"{"other": "x"}"#, to: file)
        do {
            _ = try SourceReader.documents(of: .jsonl(file))
            Issue.record("expected an error")
        } catch let DataError.invalidJSON(path, line, reason) {
            #expect(path == file.path && line == 2 && reason.contains("text"))
        }
    }

    @Test func invalidUTF8NamesFileAndLine() throws {
        let dir = try TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("bad.txt")
        try (Data("line one\nline two\nbad ".utf8) + Data([0xFF, 0xFE]) + Data("\n".utf8)).write(to: text)
        #expect(throws: DataError.invalidUTF8(path: text.path, line: 3)) {
            _ = try SourceReader.documents(of: .text(text))
        }
        let jsonl = dir.appendingPathComponent("bad.jsonl")
        try (Data(#"{"text": "a"}"#.utf8) + Data("\n".utf8) + Data([0x7B, 0xC3, 0x28, 0x7D])).write(to: jsonl)
        #expect(throws: DataError.invalidUTF8(path: jsonl.path, line: 2)) {
            _ = try SourceReader.documents(of: .jsonl(jsonl))
        }
    }
}
