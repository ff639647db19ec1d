// The on-disk token cache: sources tokenized once into memory-mapped shards of little-endian
// uint16 or uint32 ids, a byte-per-token loss mask beside them (only when some source has
// unsupervised tokens), a uint64 table of document start offsets, and a small JSON index.
//
// Invariants: `index.json` is the commit point. Shards and tables are written under temporary
// names, renamed into place, and only then is the index replaced atomically (temp + rename); files
// the index does not name are deleted afterwards. The index records a fingerprint of every source
// file's path and content, the tokenizer, the chat template and the options: the cache is reused
// when it matches and rebuilt when anything changes.

import Foundation
import ScionTokenizers

/// The integer type of cached token ids.
public enum TokenElementType: String, Sendable, Codable, CaseIterable {
    /// 2 bytes per token; ids up to 65535.
    case uint16
    /// 4 bytes per token.
    case uint32

    /// Bytes per token.
    public var byteSize: Int { self == .uint16 ? 2 : 4 }
    /// The largest id it holds.
    public var maxID: Int { self == .uint16 ? Int(UInt16.max) : Int(UInt32.max) }
}

/// Options of a ``TokenCache`` build.
public struct TokenCacheOptions: Sendable, Equatable {
    /// The id type; `nil` picks uint16 when the vocabulary fits (≤ 65536 ids), else uint32.
    public var elementType: TokenElementType?
    /// Tokens per shard file (documents may span shards).
    public var shardTokenCount: Int

    /// Creates options.
    public init(elementType: TokenElementType? = nil, shardTokenCount: Int = 1 << 26) {
        self.elementType = elementType
        self.shardTokenCount = shardTokenCount
    }
}

/// The JSON index of a cache (`index.json`).
public struct TokenCacheIndex: Codable, Sendable, Equatable {
    /// One shard: its files and token count.
    public struct Shard: Codable, Sendable, Equatable {
        /// The ids file name.
        public var tokens: String
        /// The loss-mask file name (one byte per token, 1 = supervised), if any.
        public var mask: String?
        /// Tokens in this shard.
        public var tokenCount: Int
    }

    /// One source file: path, size and content hash.
    public struct SourceFile: Codable, Sendable, Equatable {
        /// The file path.
        public var path: String
        /// Its size in bytes.
        public var byteCount: Int
        /// Its content hash (64-bit, hex).
        public var hash: String
    }

    /// The format version (1).
    public var formatVersion: Int
    /// The fingerprint of sources, tokenizer, template and options; a mismatch means rebuild.
    public var fingerprint: String
    /// The tokenizer's fingerprint.
    public var tokenizerHash: String
    /// The id type of the shards.
    public var elementType: TokenElementType
    /// Total tokens.
    public var tokenCount: Int
    /// Total documents.
    public var documentCount: Int
    /// The document table: `documentCount + 1` little-endian uint64 start offsets.
    public var documents: String
    /// The shards, in token order.
    public var shards: [Shard]
    /// The source files that went in.
    public var sources: [SourceFile]
}

/// Tokenized sources on disk, memory-mapped, readable as a ``TokenizedCorpus``.
///
/// ```swift
/// let cache = try TokenCache.prepare(
///     sources: [.jsonl(URL(filePath: "web.jsonl"))], tokenizer: tokenizer,
///     directory: URL(filePath: ".scion-cache/web"))
/// print(cache.tokenCount, cache.wasBuilt)
/// ```
public final class TokenCache: TokenizedCorpus {
    /// The current index format.
    public static let formatVersion = 1

    /// The cache folder.
    public let directory: URL
    /// The index read from (or written to) `index.json`.
    public let index: TokenCacheIndex
    /// `true` when ``prepare(sources:tokenizer:chatTemplate:directory:options:)`` tokenized the
    /// sources; `false` when it reused an up-to-date cache.
    public let wasBuilt: Bool

    let shardFiles: [MappedFile]
    let maskFiles: [MappedFile?]
    let shardStarts: [Int]  // global offset of each shard's first token, plus the total at the end
    let documentTable: MappedFile

    /// The id type.
    public var elementType: TokenElementType { index.elementType }
    /// Total tokens.
    public var tokenCount: Int { index.tokenCount }
    /// Total documents.
    public var documentCount: Int { index.documentCount }
    /// Whether a loss mask was stored.
    public var hasLossMask: Bool { index.shards.contains { $0.mask != nil } }

    init(directory: URL, index: TokenCacheIndex, wasBuilt: Bool) throws {
        self.directory = directory
        self.index = index
        self.wasBuilt = wasBuilt
        var files: [MappedFile] = []
        var masks: [MappedFile?] = []
        var starts = [0]
        for s in index.shards {
            let f = try MappedFile(url: directory.appendingPathComponent(s.tokens))
            guard f.byteCount == s.tokenCount * index.elementType.byteSize else {
                throw DataError.corruptCache(path: directory.path, reason: "\(s.tokens) has the wrong size")
            }
            files.append(f)
            if let m = s.mask {
                let mf = try MappedFile(url: directory.appendingPathComponent(m))
                guard mf.byteCount == s.tokenCount else {
                    throw DataError.corruptCache(path: directory.path, reason: "\(m) has the wrong size")
                }
                masks.append(mf)
            } else {
                masks.append(nil)
            }
            starts.append(starts[starts.count - 1] + s.tokenCount)
        }
        guard starts.last == index.tokenCount else {
            throw DataError.corruptCache(path: directory.path, reason: "shard sizes do not add up")
        }
        shardFiles = files
        maskFiles = masks
        shardStarts = starts
        documentTable = try MappedFile(url: directory.appendingPathComponent(index.documents))
        guard documentTable.byteCount == (index.documentCount + 1) * 8 else {
            throw DataError.corruptCache(path: directory.path, reason: "document table has the wrong size")
        }
    }

    /// Opens an existing cache without checking whether it is up to date.
    ///
    /// - Throws: ``DataError/unreadable(path:reason:)`` or ``DataError/corruptCache(path:reason:)``.
    public static func open(directory: URL) throws -> TokenCache {
        let url = directory.appendingPathComponent("index.json")
        let data = try SourceReader.readFile(url)
        let index: TokenCacheIndex
        do {
            index = try JSONDecoder().decode(TokenCacheIndex.self, from: data)
        } catch {
            throw DataError.corruptCache(path: url.path, reason: "\(error)")
        }
        guard index.formatVersion == formatVersion else {
            throw DataError.corruptCache(path: url.path, reason: "format version \(index.formatVersion)")
        }
        return try TokenCache(directory: directory, index: index, wasBuilt: false)
    }

    /// Returns an up-to-date cache of `sources`, reusing the one in `directory` when its
    /// fingerprint matches, else tokenizing the sources and writing a new one.
    ///
    /// - Parameters:
    ///   - sources: The inputs, in order; documents keep that order.
    ///   - tokenizer: The tokenizer (ids come from `tokenIDs`, so no special tokens are added;
    ///     EOS is inserted at packing time).
    ///   - chatTemplate: The template for chat sources.
    ///   - directory: The cache folder (created if needed).
    ///   - options: Id type and shard size.
    /// - Returns: The cache; ``wasBuilt`` says whether it was (re)built.
    /// - Throws: ``DataError`` for unreadable or malformed inputs (naming file and line), ids that
    ///   do not fit the id type, or a failed write.
    public static func prepare(sources: [DataSource], tokenizer: Tokenizer, chatTemplate: ChatTemplate? = nil,
                               directory: URL, options: TokenCacheOptions = TokenCacheOptions()) throws -> TokenCache {
        guard options.shardTokenCount > 0 else {
            throw DataError.invalidConfiguration(reason: "shardTokenCount must be positive")
        }
        let elementType = options.elementType ?? (tokenizer.vocabularySize <= 65536 ? .uint16 : .uint32)
        let tokenizerHash = DocumentTokenizer.fingerprint(of: tokenizer)
        var files: [(source: DataSource, url: URL, hash: String)] = []
        var fileRecords: [TokenCacheIndex.SourceFile] = []
        var h = StableHash()
        h.update("scion-token-cache \(formatVersion) \(elementType.rawValue) \(tokenizerHash)\n")
        if let chatTemplate { h.update("template \(StableHash.of(chatTemplate.source))\n") }
        for source in sources {
            h.update("source \(source.optionsDescription) \(source.url.path)\n")
            for file in try source.files() {
                let data = try SourceReader.readFile(file)
                let record = TokenCacheIndex.SourceFile(path: file.path, byteCount: data.count, hash: StableHash.of(data))
                h.update("file \(record.path) \(record.byteCount) \(record.hash)\n")
                fileRecords.append(record)
                files.append((source, file, record.hash))
            }
        }
        let fingerprint = h.finalize()
        if let existing = try? open(directory: directory), existing.index.fingerprint == fingerprint {
            return existing
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var writer = try ShardWriter(directory: directory, elementType: elementType,
                                     shardTokenCount: options.shardTokenCount,
                                     writesMask: sources.contains { $0.hasUnsupervisedTokens })
        // Files are read again one at a time, so a large corpus is never in memory at once.
        for (source, file, hash) in files {
            let data = try SourceReader.readFile(file)
            guard StableHash.of(data) == hash else {
                throw DataError.unreadable(path: file.path, reason: "changed while the cache was being built")
            }
            var failure: Error?
            try SourceReader.documents(in: data, path: file.path, source: source, chatTemplate: chatTemplate) { doc in
                guard failure == nil else { return }
                let t = DocumentTokenizer.tokenize(doc, with: tokenizer)
                if t.ids.isEmpty { return }
                do { try writer.append(t) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        let index = try writer.finish(fingerprint: fingerprint, tokenizerHash: tokenizerHash, sources: fileRecords)
        let cache = try TokenCache(directory: directory, index: index, wasBuilt: true)
        removeUnreferencedFiles(in: directory, keeping: index)
        return cache
    }

    static func removeUnreferencedFiles(in directory: URL, keeping index: TokenCacheIndex) {
        let keep = Set(index.shards.flatMap { [$0.tokens] + ($0.mask.map { [$0] } ?? []) } + [index.documents, "index.json"])
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where !keep.contains(name)
            && (name.hasPrefix("tokens-") || name.hasPrefix("mask-") || name.hasPrefix("documents-")) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// Start offset of document `index` (and, for `documentCount`, the total).
    public func documentStart(_ index: Int) -> Int {
        precondition(index >= 0 && index <= documentCount, "document index \(index) out of range")
        guard let base = documentTable.base else { return 0 }
        return Int(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)))
    }

    public func documentLength(_ index: Int) -> Int { documentStart(index + 1) - documentStart(index) }

    public func document(_ index: Int) -> TokenizedDocument {
        let r = documentStart(index)..<documentStart(index + 1)
        return TokenizedDocument(ids: tokens(in: r), lossMask: lossMask(in: r))
    }

    public func document(_ index: Int, range: Range<Int>) -> TokenizedDocument {
        let start = documentStart(index)
        precondition(range.upperBound <= documentLength(index), "range beyond document \(index)")
        let r = (start + range.lowerBound)..<(start + range.upperBound)
        return TokenizedDocument(ids: tokens(in: r), lossMask: lossMask(in: r))
    }

    func shard(containing offset: Int) -> Int {
        var lo = 0, hi = shardFiles.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if shardStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The ids in a global token range.
    public func tokens(in range: Range<Int>) -> [Int] {
        precondition(range.lowerBound >= 0 && range.upperBound <= tokenCount, "token range out of bounds")
        var out: [Int] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            let s = shard(containing: i)
            let end = min(range.upperBound, shardStarts[s + 1])
            guard let base = shardFiles[s].base else { break }
            let local = i - shardStarts[s]
            switch elementType {
            case .uint16:
                for k in local..<(local + end - i) {
                    out.append(Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self))))
                }
            case .uint32:
                for k in local..<(local + end - i) {
                    out.append(Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: k * 4, as: UInt32.self))))
                }
            }
            i = end
        }
        return out
    }

    /// The loss mask in a global token range, or `nil` when no mask was stored.
    public func lossMask(in range: Range<Int>) -> [Bool]? {
        guard hasLossMask else { return nil }
        var out: [Bool] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            let s = shard(containing: i)
            let end = min(range.upperBound, shardStarts[s + 1])
            let local = i - shardStarts[s]
            if let m = maskFiles[s], let base = m.base {
                for k in local..<(local + end - i) { out.append(base.load(fromByteOffset: k, as: UInt8.self) != 0) }
            } else {
                out.append(contentsOf: repeatElement(true, count: end - i))
            }
            i = end
        }
        return out
    }
}

/// Streams documents into shard files under temporary names, then commits them.
struct ShardWriter {
    let directory: URL
    let elementType: TokenElementType
    let shardTokenCount: Int
    let writesMask: Bool
    let buildID: String
    var shards: [TokenCacheIndex.Shard] = []
    var tokenBuffer = Data()
    var maskBuffer = Data()
    var bufferedTokens = 0
    var total = 0
    var documentStarts: [UInt64] = [0]
    var temporaries: [(URL, URL)] = []

    init(directory: URL, elementType: TokenElementType, shardTokenCount: Int, writesMask: Bool) throws {
        self.directory = directory
        self.elementType = elementType
        self.shardTokenCount = shardTokenCount
        self.writesMask = writesMask
        buildID = String(UUID().uuidString.prefix(8)).lowercased()
    }

    mutating func append(_ doc: TokenizedDocument) throws {
        for (i, id) in doc.ids.enumerated() {
            guard id >= 0 && id <= elementType.maxID else {
                throw DataError.tokenizer(reason: "token id \(id) does not fit \(elementType.rawValue)")
            }
            switch elementType {
            case .uint16: withUnsafeBytes(of: UInt16(id).littleEndian) { tokenBuffer.append(contentsOf: $0) }
            case .uint32: withUnsafeBytes(of: UInt32(id).littleEndian) { tokenBuffer.append(contentsOf: $0) }
            }
            if writesMask { maskBuffer.append(doc.isSupervised(i) ? 1 : 0) }
            bufferedTokens += 1
            total += 1
            if bufferedTokens == shardTokenCount { try flush() }
        }
        documentStarts.append(UInt64(total))
    }

    mutating func write(_ data: Data, name: String) throws {
        let final = directory.appendingPathComponent(name)
        let temp = directory.appendingPathComponent(".\(name).tmp")
        do {
            try data.write(to: temp)
        } catch {
            throw DataError.unreadable(path: temp.path, reason: "cannot write: \(error.localizedDescription)")
        }
        temporaries.append((temp, final))
    }

    mutating func flush() throws {
        guard bufferedTokens > 0 else { return }
        let n = String(format: "%05d", shards.count)
        let tokensName = "tokens-\(buildID)-\(n).bin"
        try write(tokenBuffer, name: tokensName)
        var maskName: String?
        if writesMask {
            let name = "mask-\(buildID)-\(n).bin"
            try write(maskBuffer, name: name)
            maskName = name
        }
        shards.append(.init(tokens: tokensName, mask: maskName, tokenCount: bufferedTokens))
        tokenBuffer = Data()
        maskBuffer = Data()
        bufferedTokens = 0
    }

    mutating func finish(fingerprint: String, tokenizerHash: String,
                         sources: [TokenCacheIndex.SourceFile]) throws -> TokenCacheIndex {
        try flush()
        var table = Data(capacity: documentStarts.count * 8)
        for s in documentStarts { withUnsafeBytes(of: s.littleEndian) { table.append(contentsOf: $0) } }
        let documentsName = "documents-\(buildID).bin"
        try write(table, name: documentsName)
        let fm = FileManager.default
        for (temp, final) in temporaries {
            try? fm.removeItem(at: final)
            do {
                try fm.moveItem(at: temp, to: final)
            } catch {
                throw DataError.unreadable(path: final.path, reason: "cannot rename: \(error.localizedDescription)")
            }
        }
        let index = TokenCacheIndex(
            formatVersion: TokenCache.formatVersion, fingerprint: fingerprint, tokenizerHash: tokenizerHash,
            elementType: elementType, tokenCount: total, documentCount: documentStarts.count - 1,
            documents: documentsName, shards: shards, sources: sources)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = directory.appendingPathComponent("index.json")
        do {
            try encoder.encode(index).write(to: url, options: .atomic)
        } catch {
            throw DataError.unreadable(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
        return index
    }
}
