// Packing documents into fixed-length training sequences. Each epoch the chosen documents are put
// in a seeded order and concatenated into one stream with EOS after every document; sequence k is
// stream[k·T ..< k·T + T + 1], whose first T tokens are inputs and last T are targets (so every
// stream token after the first is a target exactly once). The tail shorter than T + 1 is dropped.
// With document-boundary reset, segment ids and position ids restart at each document so
// attention can be restricted to it. Not batching (DataLoader.swift) nor mixing (Mixture.swift).

import Foundation
import ScionTensor

/// How documents are packed into sequences.
public struct PackingOptions: Sendable, Codable, Equatable {
    /// The target index ignored by the loss (PyTorch's default `ignore_index`).
    public static let ignoreIndex = -100

    /// T: tokens per input row (each sequence holds T + 1 tokens).
    public var sequenceLength: Int
    /// The id appended after every document.
    public var eosTokenID: Int
    /// Emit segment ids and position ids that restart at every document start.
    public var documentBoundaryReset: Bool
    /// Shuffle documents and sequences each epoch (by seed); `false` keeps corpus order
    /// (for validation).
    public var shuffle: Bool

    /// Creates options.
    public init(sequenceLength: Int, eosTokenID: Int, documentBoundaryReset: Bool = false, shuffle: Bool = true) {
        self.sequenceLength = sequenceLength
        self.eosTokenID = eosTokenID
        self.documentBoundaryReset = documentBoundaryReset
        self.shuffle = shuffle
    }
}

/// One packed sequence of T + 1 tokens.
public struct PackedSequence: Sendable, Equatable {
    /// T + 1 token ids.
    public var tokens: [Int]
    /// T + 1 flags: whether each token is a loss target (false for prompt tokens in SFT).
    public var supervised: [Bool]
    /// T segment ids of the inputs (0 for the first document in the row, +1 at each new one).
    public var segmentIDs: [Int]
    /// T position ids of the inputs (restarting at 0 at each document start and at the row start).
    public var positionIDs: [Int]

    /// The T inputs: `tokens[0..<T]`.
    public var inputs: [Int] { Array(tokens.dropLast()) }

    /// The T targets: `tokens[1...T]`, with ``PackingOptions/ignoreIndex`` where not supervised.
    public var targets: [Int] {
        (1..<tokens.count).map { supervised[$0] ? tokens[$0] : PackingOptions.ignoreIndex }
    }
}

/// One epoch's layout of documents in the packed stream.
struct PackingPlan: Sendable {
    /// Document indices in stream order.
    let order: [Int]
    /// Stream offset of each slot in `order` (each holds the document and its EOS), plus the total.
    let starts: [Int]
    /// Sequence indices in serving order.
    let sequenceOrder: [Int]

    var sequenceCount: Int { sequenceOrder.count }

    init(corpus: any TokenizedCorpus, documents: [Int], options: PackingOptions, generator: inout RandomGenerator) {
        var order = documents
        if options.shuffle { SeededShuffle.shuffle(&order, generator: &generator) }
        var starts = [0]
        starts.reserveCapacity(order.count + 1)
        for d in order { starts.append(starts[starts.count - 1] + corpus.documentLength(d) + 1) }
        let total = starts[starts.count - 1]
        let count = total > 0 ? (total - 1) / options.sequenceLength : 0
        var seqOrder = Array(0..<count)
        if options.shuffle { SeededShuffle.shuffle(&seqOrder, generator: &generator) }
        self.order = order
        self.starts = starts
        self.sequenceOrder = seqOrder
    }

    /// The slot whose span contains stream offset `p`.
    func slot(containing p: Int) -> Int {
        var lo = 0, hi = order.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= p { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Packed sequence `k` (stream order, not serving order).
    func sequence(_ k: Int, corpus: any TokenizedCorpus, options: PackingOptions) -> PackedSequence {
        let t = options.sequenceLength
        var tokens: [Int] = [], supervised: [Bool] = []
        var segments: [Int] = [], positions: [Int] = []
        tokens.reserveCapacity(t + 1)
        var p = k * t
        let end = p + t + 1
        var s = slot(containing: p)
        var segment = 0
        var position = 0
        while p < end {
            let doc = order[s]
            let length = starts[s + 1] - starts[s] - 1  // without EOS
            let offset = p - starts[s]
            let take = min(end - p, length + 1 - offset)
            if offset == 0 && p != k * t { segment += 1; position = 0 }
            let textEnd = min(offset + take, length)
            var lastSupervised = true
            if offset < textEnd {
                let piece = corpus.document(doc, range: offset..<textEnd)
                tokens.append(contentsOf: piece.ids)
                for i in 0..<piece.ids.count { supervised.append(piece.isSupervised(i)) }
            }
            if offset + take > length {
                // NOTE: the EOS is a target when the document's last token is (so SFT learns to stop).
                if length > 0 {
                    lastSupervised = offset < length
                        ? supervised[supervised.count - 1]
                        : corpus.document(doc, range: (length - 1)..<length).isSupervised(0)
                }
                tokens.append(options.eosTokenID)
                supervised.append(lastSupervised)
            }
            for _ in 0..<take {
                segments.append(segment)
                positions.append(position)
                position += 1
            }
            p += take
            s += 1
        }
        segments.removeLast()
        positions.removeLast()
        if !options.documentBoundaryReset {
            segments = [Int](repeating: 0, count: t)
            positions = Array(0..<t)
        }
        return PackedSequence(tokens: tokens, supervised: supervised, segmentIDs: segments, positionIDs: positions)
    }
}

/// The resumable position of a ``SequenceStream`` or ``DataLoader``.
public struct DataLoaderPosition: Sendable, Codable, Equatable {
    /// Completed epochs.
    public var epoch: Int
    /// Sequences already served in this epoch.
    public var index: Int
    /// The generator state at the start of this epoch (the epoch's order is drawn from it).
    public var generator: RandomGenerator

    /// Creates a position.
    public init(epoch: Int, index: Int, generator: RandomGenerator) {
        self.epoch = epoch
        self.index = index
        self.generator = generator
    }

    /// The start of training for `seed`.
    public init(seed: UInt64) { self.init(epoch: 0, index: 0, generator: RandomGenerator(seed: seed)) }
}

/// An endless, resumable stream of packed sequences from one corpus, epoch after epoch.
///
/// ```swift
/// var stream = try SequenceStream(corpus: cache, options: .init(sequenceLength: 256, eosTokenID: 0), seed: 1)
/// let s = stream.next()          // PackedSequence of 257 tokens
/// let saved = stream.position    // Codable; SequenceStream(…, position: saved) continues here
/// ```
public struct SequenceStream: Sendable {
    /// The corpus read.
    public let corpus: any TokenizedCorpus
    /// The documents used (for example a training split), in corpus order.
    public let documents: [Int]
    /// Packing options.
    public let options: PackingOptions
    /// Where the next sequence comes from.
    public private(set) var position: DataLoaderPosition

    var plan: PackingPlan
    var nextEpochGenerator: RandomGenerator

    /// Creates a stream.
    ///
    /// - Parameters:
    ///   - corpus: The tokenized documents.
    ///   - documents: Indices of the documents to use; `nil` uses all.
    ///   - options: Sequence length, EOS, reset and shuffle.
    ///   - seed: The shuffling seed (ignored when `position` is given).
    ///   - position: A saved position to resume from.
    /// - Throws: ``DataError/invalidConfiguration(reason:)`` when the sequence length is not
    ///   positive or the documents hold fewer than T + 1 tokens.
    public init(corpus: any TokenizedCorpus, documents: [Int]? = nil, options: PackingOptions, seed: UInt64 = 0,
                position: DataLoaderPosition? = nil) throws {
        guard options.sequenceLength > 0 else {
            throw DataError.invalidConfiguration(reason: "sequenceLength must be positive")
        }
        self.corpus = corpus
        self.documents = documents ?? Array(0..<corpus.documentCount)
        self.options = options
        let start = position ?? DataLoaderPosition(seed: seed)
        var g = start.generator
        plan = PackingPlan(corpus: corpus, documents: self.documents, options: options, generator: &g)
        nextEpochGenerator = g
        self.position = start
        guard plan.sequenceCount > 0 else {
            throw DataError.invalidConfiguration(
                reason: "the documents hold fewer than sequenceLength + 1 = \(options.sequenceLength + 1) tokens")
        }
        guard start.index >= 0 && start.index <= plan.sequenceCount else {
            throw DataError.invalidConfiguration(reason: "position index \(start.index) beyond the epoch")
        }
    }

    /// Sequences per epoch.
    public var sequencesPerEpoch: Int { plan.sequenceCount }

    /// Stream tokens per epoch: document tokens plus one EOS per document.
    public var streamTokensPerEpoch: Int { plan.starts[plan.starts.count - 1] }

    /// The next sequence, moving to a freshly shuffled epoch when this one is used up.
    public mutating func next() -> PackedSequence {
        if position.index == plan.sequenceCount {
            var g = nextEpochGenerator
            position = DataLoaderPosition(epoch: position.epoch + 1, index: 0, generator: g)
            plan = PackingPlan(corpus: corpus, documents: documents, options: options, generator: &g)
            nextEpochGenerator = g
        }
        let k = plan.sequenceOrder[position.index]
        position.index += 1
        return plan.sequence(k, corpus: corpus, options: options)
    }

    /// All sequences of the current epoch in serving order (for validation passes), without
    /// moving the position.
    public func epochSequences() -> [PackedSequence] {
        plan.sequenceOrder.map { plan.sequence($0, corpus: corpus, options: options) }
    }
}
