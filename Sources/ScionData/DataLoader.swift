// Batches of packed sequences as [B, T] int64 tensors, with a Codable position so a killed run
// resumes at exactly the same batch. Rows of a batch are consecutive sequences of the stream; a
// batch that crosses an epoch end continues into the next epoch, so every batch is full.

import Foundation
import ScionTensor

/// A batch of B packed rows of T tokens.
///
/// Shapes: `inputs`, `targets`, `segmentIDs`, `positionIDs` and `lossMask` are [B, T].
public struct Batch: Sendable, Equatable {
    /// B.
    public var batchSize: Int
    /// T.
    public var sequenceLength: Int
    /// Input ids, row-major [B, T].
    public var inputIDs: [Int]
    /// Target ids, row-major [B, T]; ``PackingOptions/ignoreIndex`` where not supervised.
    public var targetIDs: [Int]
    /// Segment ids, row-major [B, T]; present with document-boundary reset.
    public var segmentIDValues: [Int]?
    /// Position ids, row-major [B, T]; present with document-boundary reset.
    public var positionIDValues: [Int]?
    /// For mixtures: the source each row came from.
    public var sourceIndices: [Int]?

    /// Creates a batch from rows.
    public init(rows: [PackedSequence], withBoundaryIDs: Bool, sourceIndices: [Int]? = nil) {
        batchSize = rows.count
        sequenceLength = rows.first.map { $0.tokens.count - 1 } ?? 0
        inputIDs = rows.flatMap { $0.inputs }
        targetIDs = rows.flatMap { $0.targets }
        segmentIDValues = withBoundaryIDs ? rows.flatMap { $0.segmentIDs } : nil
        positionIDValues = withBoundaryIDs ? rows.flatMap { $0.positionIDs } : nil
        self.sourceIndices = sourceIndices
    }

    /// Inputs as an int64 tensor [B, T].
    public var inputs: Tensor { Tensor(indices: inputIDs, shape: [batchSize, sequenceLength]) }
    /// Targets as an int64 tensor [B, T], -100 where ignored.
    public var targets: Tensor { Tensor(indices: targetIDs, shape: [batchSize, sequenceLength]) }
    /// Segment ids as an int64 tensor [B, T] (attend only within equal ids), if present.
    public var segmentIDs: Tensor? { segmentIDValues.map { Tensor(indices: $0, shape: [batchSize, sequenceLength]) } }
    /// Position ids as an int64 tensor [B, T], if present.
    public var positionIDs: Tensor? { positionIDValues.map { Tensor(indices: $0, shape: [batchSize, sequenceLength]) } }
    /// A float32 [B, T] mask: 1 where the target counts in the loss, 0 where it is ignored.
    public var lossMask: Tensor {
        Tensor(targetIDs.map { $0 == PackingOptions.ignoreIndex ? 0 : 1 }, shape: [batchSize, sequenceLength])
    }
    /// A boolean attention mask [B, 1, T, T] that is true where query and key lie in the same
    /// document (segment), or `nil` without document-boundary reset.
    ///
    /// Pass it as `mask:` to `Tensor.scaledDotProductAttention` together with `causal: true`, so
    /// each token attends only to earlier tokens of its own document.
    public var sameDocumentMask: Tensor? {
        guard let seg = segmentIDValues else { return nil }
        let t = sequenceLength
        var values = [Double](repeating: 0, count: batchSize * t * t)
        for b in 0..<batchSize {
            for i in 0..<t {
                for j in 0..<t where seg[b * t + i] == seg[b * t + j] { values[(b * t + i) * t + j] = 1 }
            }
        }
        return Tensor(doubles: values, shape: [batchSize, 1, t, t], dtype: .bool)
    }

    /// The number of targets that count in the loss.
    public var supervisedTargetCount: Int { targetIDs.reduce(0) { $0 + ($1 == PackingOptions.ignoreIndex ? 0 : 1) } }
}

/// Batches from one corpus: an endless, resumable iterator.
///
/// ```swift
/// let split = try SeededShuffle.split(documentCount: cache.documentCount, validationFraction: 0.01, seed: 7)
/// var loader = try DataLoader(corpus: cache, documents: split.train, batchSize: 8,
///                             options: PackingOptions(sequenceLength: 256, eosTokenID: eos), seed: 7)
/// let batch = loader.next()              // inputs/targets [8, 256]
/// let saved = try JSONEncoder().encode(loader.position)
/// // … after a restart:
/// loader = try DataLoader(corpus: cache, documents: split.train, batchSize: 8, options: options,
///                         position: JSONDecoder().decode(DataLoaderPosition.self, from: saved))
/// ```
public struct DataLoader: Sendable, Sequence, IteratorProtocol {
    /// B.
    public let batchSize: Int
    var stream: SequenceStream

    /// Creates a loader.
    ///
    /// - Parameters:
    ///   - corpus: The tokenized documents.
    ///   - documents: The documents to use (e.g. a split); `nil` uses all.
    ///   - batchSize: B.
    ///   - options: Packing options.
    ///   - seed: The shuffling seed.
    ///   - position: A saved ``position`` to resume from.
    /// - Throws: ``DataError/invalidConfiguration(reason:)`` for a non-positive batch size or
    ///   sequence length, or too little data.
    public init(corpus: any TokenizedCorpus, documents: [Int]? = nil, batchSize: Int, options: PackingOptions,
                seed: UInt64 = 0, position: DataLoaderPosition? = nil) throws {
        guard batchSize > 0 else { throw DataError.invalidConfiguration(reason: "batchSize must be positive") }
        self.batchSize = batchSize
        stream = try SequenceStream(corpus: corpus, documents: documents, options: options, seed: seed,
                                    position: position)
    }

    /// Where the next batch comes from; save it to resume.
    public var position: DataLoaderPosition { stream.position }
    /// Sequences per epoch.
    public var sequencesPerEpoch: Int { stream.sequencesPerEpoch }
    /// Full batches per epoch (rounded down).
    public var batchesPerEpoch: Int { stream.sequencesPerEpoch / batchSize }

    /// The next batch (never `nil`: the loader runs epoch after epoch).
    public mutating func next() -> Batch? { nextBatch() }

    /// The next batch.
    public mutating func nextBatch() -> Batch {
        var rows: [PackedSequence] = []
        rows.reserveCapacity(batchSize)
        for _ in 0..<batchSize { rows.append(stream.next()) }
        return Batch(rows: rows, withBoundaryIDs: stream.options.documentBoundaryReset)
    }
}
