// Byte-pair-encoding model: apply ranked merges inside one pre-tokenized word.
// Follows HF tokenizers' models/bpe (model.rs, word.rs): merges are applied lowest rank first,
// leftmost first among equal ranks; byte_fallback emits <0xNN> tokens for unknown characters,
// fuse_unk collapses runs of unknowns, ignore_merges returns whole-word vocabulary hits directly.
// Pairs are keyed by two Int32 ids packed in a UInt64; short words use a linear min-scan, long ones
// (SentencePiece-style inputs with no pre-tokenizer) a binary heap over a linked list.

/// A BPE vocabulary with its merge table.
final class BPEModel: Sendable {
    let vocab: [String: Int]
    let idToToken: [Int: String]
    /// (left << 32 | right) -> (rank << 32 | merged id)
    let merges: [UInt64: UInt64]
    /// Ids of single-scalar tokens, used when no subword prefix/suffix decorates the symbols.
    let scalarIDs: [UInt32: Int]
    let unknownToken: String?
    let unknownID: Int?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    /// `<0xNN>` ids when all 256 exist (byte fallback), else nil.
    let byteTokenIDs: [Int]?

    init(vocab: [String: Int], merges: [(String, String)], unknownToken: String?,
         fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool,
         continuingSubwordPrefix: String?, endOfWordSuffix: String?) throws {
        self.vocab = vocab
        var inverse: [Int: String] = [:]
        inverse.reserveCapacity(vocab.count)
        for (t, i) in vocab { inverse[i] = t }
        self.idToToken = inverse
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a] else {
                throw TokenizerError.malformed(field: "model.merges[\(rank)]",
                                               reason: "token \"\(a)\" is not in the vocabulary")
            }
            guard let ib = vocab[b] else {
                throw TokenizerError.malformed(field: "model.merges[\(rank)]",
                                               reason: "token \"\(b)\" is not in the vocabulary")
            }
            let merged = Self.mergedToken(a, b, prefix: continuingSubwordPrefix)
            guard let im = vocab[merged] else {
                throw TokenizerError.malformed(field: "model.merges[\(rank)]",
                                               reason: "merged token \"\(merged)\" is not in the vocabulary")
            }
            let key = Self.pairKey(ia, ib)
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(im) }
        }
        self.merges = table
        var scalars: [UInt32: Int] = [:]
        for (t, i) in vocab {
            var it = t.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { scalars[first.value] = i }
        }
        self.scalarIDs = scalars
        self.unknownToken = unknownToken
        self.unknownID = unknownToken.flatMap { vocab[$0] }
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        let bytes = (0..<256).compactMap { vocab[Self.byteToken(UInt8($0))] }
        self.byteTokenIDs = bytes.count == 256 ? bytes : nil
    }

    /// The `<0xNN>` spelling SentencePiece and HF use for byte tokens.
    static func byteToken(_ b: UInt8) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x\(hex[Int(b >> 4)])\(hex[Int(b & 15)])>"
    }

    /// HF drops the right side's continuing-subword prefix when it builds a merged token.
    static func mergedToken(_ a: String, _ b: String, prefix: String?) -> String {
        if let prefix, !prefix.isEmpty, b.utf8HasPrefix(prefix) { return a + b.droppingUTF8Prefix(prefix) }
        return a + b
    }

    @inline(__always)
    static func pairKey(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    /// Token ids for one word.
    func tokenize(_ word: String, into out: inout [Int]) {
        if word.isEmpty { return }
        if ignoreMerges, let id = vocab[word] {
            out.append(id)
            return
        }
        var symbols = initialSymbols(word)
        if symbols.count > 1 {
            if symbols.count <= 48 { mergeLinear(&symbols) } else { mergeHeap(&symbols) }
        }
        out.append(contentsOf: symbols)
    }

    private func initialSymbols(_ word: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(word.utf8.count)
        let plain = continuingSubwordPrefix == nil && endOfWordSuffix == nil
        var previousWasUnknown = false
        let scalars = word.unicodeScalars
        let lastIndex = scalars.index(before: scalars.endIndex)
        var i = scalars.startIndex
        var isFirst = true
        while i != scalars.endIndex {
            let u = scalars[i]
            var id: Int?
            if plain {
                id = scalarIDs[u.value]
            } else {
                var s = String(u)
                if !isFirst, let p = continuingSubwordPrefix { s = p + s }
                if i == lastIndex, let x = endOfWordSuffix { s += x }
                id = vocab[s]
            }
            if let id {
                ids.append(id)
                previousWasUnknown = false
            } else if byteFallback, let bytes = byteTokenIDs {
                for b in String(u).utf8 { ids.append(bytes[Int(b)]) }
                previousWasUnknown = false
            } else if let unk = unknownID {
                if !(fuseUnknown && previousWasUnknown) { ids.append(unk) }
                previousWasUnknown = true
            }
            isFirst = false
            i = scalars.index(after: i)
        }
        return ids
    }

    /// Repeatedly merge the lowest-ranked adjacent pair (leftmost on ties).
    private func mergeLinear(_ s: inout [Int]) {
        while s.count > 1 {
            var best = UInt64.max
            var at = -1
            for k in 0..<(s.count - 1) {
                if let v = merges[Self.pairKey(s[k], s[k + 1])], v < best {
                    best = v
                    at = k
                }
            }
            if at < 0 { return }
            s[at] = Int(best & 0xFFFF_FFFF)
            s.remove(at: at + 1)
        }
    }

    /// Same result as `mergeLinear` in O(n log n), for long words.
    private func mergeHeap(_ s: inout [Int]) {
        let n = s.count
        var ids = s
        var next = Array(1...n)  // n means "none"
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap<HeapEntry>()
        for k in 0..<(n - 1) {
            if let v = merges[Self.pairKey(ids[k], ids[k + 1])] {
                heap.push(HeapEntry(rank: v >> 32, position: k, left: ids[k], right: ids[k + 1]))
            }
        }
        while let e = heap.pop() {
            let k = e.position
            guard alive[k], ids[k] == e.left else { continue }
            let r = next[k]
            guard r < n, ids[r] == e.right else { continue }
            guard let v = merges[Self.pairKey(e.left, e.right)] else { continue }
            ids[k] = Int(v & 0xFFFF_FFFF)
            alive[r] = false
            next[k] = next[r]
            if next[r] < n { prev[next[r]] = k }
            let p = prev[k]
            if p >= 0, let pv = merges[Self.pairKey(ids[p], ids[k])] {
                heap.push(HeapEntry(rank: pv >> 32, position: p, left: ids[p], right: ids[k]))
            }
            let q = next[k]
            if q < n, let qv = merges[Self.pairKey(ids[k], ids[q])] {
                heap.push(HeapEntry(rank: qv >> 32, position: k, left: ids[k], right: ids[q]))
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var k = 0
        while k < n {
            out.append(ids[k])
            k = next[k]
        }
        s = out
    }

    private struct HeapEntry: Comparable {
        var rank: UInt64
        var position: Int
        var left: Int
        var right: Int
        static func < (a: HeapEntry, b: HeapEntry) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.position < b.position
        }
    }
}

/// A small binary min-heap.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[i] < items[parent] {
                items.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < n && items[l] < items[m] { m = l }
                if r < n && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
