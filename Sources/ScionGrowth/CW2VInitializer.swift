// CW2V (Constrained Word2Vec) initialization of new-token rows, from "An Empirical Comparison of
// Vocabulary Expansion and Initialization Approaches for Language Models" (the CW2V study;
// TECHNIQUES.md row 10, §3.2). Each new row is a convex combination of the old rows,
// e_new = softmax(a)ᵀE, so it lies inside their convex hull (the study's argument for a good start),
// and the logits a ∈ R^V are learned by word2vec's skip-gram with negative sampling (Mikolov et al.
// 2013) on target-language text tokenized with the grown tokenizer, with E frozen.
//
// The word2vec model, as set up here (the abstract fixes the constraint and the objective; these
// choices are ours): the centre ("input") vector of an old token is its frozen row of E, that of new
// token i is softmax(a_i)ᵀE; context ("output") vectors are free parameters for every id, zero at
// the start as in word2vec. Loss per (centre w, context o, n negatives z ~ unigram^0.75):
//   −log σ(u_w·c_o) − Σ_z log σ(−u_w·c_z),
// minimized with Adam through the engine's autograd, in two phases of `steps` each:
//   1. context phase: centres are old tokens only; the context vectors learn to read E's geometry;
//   2. weight phase: centres are new tokens only, the context vectors are frozen, and only the
//      convex logits a move — towards old tokens whose rows predict the new token's contexts.
// NOTE: we first trained both jointly, with new centres mixed in; the context vectors then chased
// the moving new rows and the weights settled on arbitrary hull vertices (tests: the substitute of
// a new token got < 1/40 of the weight). Freezing the contexts in phase 2 fixed that.
// The objective is linear in u inside the simplex, so the weights tend towards few old tokens (a
// vertex of the hull) as training goes on. A new token that never occurs in the corpus keeps uniform
// weights: the mean of all old rows. Sampling is seeded, so the result is deterministic for a fixed
// seed, corpus and thread count.

import Foundation
import ScionTensor

/// New rows as learned convex combinations of the old rows (CW2V).
///
/// ```swift
/// let ids = german.map { grownTokenizer.encode($0, addSpecialTokens: false).ids }   // ids < V + k
/// let grown = try VocabularyExpansion(extension: ext, initializer: CW2VInitializer(corpus: ids)).grow(seed)
/// ```
public struct CW2VInitializer: EmbeddingInitializer {
    public var name: String { "cw2v" }
    /// Token-id sequences in the grown vocabulary: ids < V are old tokens, V + i is new token i.
    public var corpus: [[Int]]
    /// Context window: contexts are the tokens at distance 1…window on either side.
    public var window: Int
    /// Negative samples per (centre, context) pair.
    public var negatives: Int
    /// Adam steps.
    public var steps: Int
    /// (centre, context) pairs per step.
    public var batchSize: Int
    /// Adam's learning rate (for the convex logits and the context vectors alike).
    public var learningRate: Double
    /// The sampling seed.
    public var seed: UInt64

    /// Creates the initializer; see the properties for the settings.
    public init(corpus: [[Int]], window: Int = 3, negatives: Int = 5, steps: Int = 300, batchSize: Int = 512,
                learningRate: Double = 0.05, seed: UInt64 = 0) {
        self.corpus = corpus; self.window = window; self.negatives = negatives; self.steps = steps
        self.batchSize = batchSize; self.learningRate = learningRate; self.seed = seed
    }

    /// What training produced.
    public struct Result: Sendable {
        /// The convex weights softmax(a_i) [k, V] (row-major): non-negative, each row sums to 1.
        public var weights: [Float]
        /// The new rows weights · E [k, C] (row-major).
        public var rows: [Float]
        /// The skip-gram loss of the context phase at every step (nats per pair; old centres).
        public var contextLosses: [Double]
        /// The skip-gram loss of the weight phase at every step (nats per pair; new centres): the
        /// objective the convex weights minimize. Empty when no new token occurs in the corpus.
        public var losses: [Double]
    }

    /// Learns the convex weights of `tokens` (ids V, V+1, …) over the rows of `matrix` [V, C].
    ///
    /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` for non-positive
    ///   settings, a corpus without a sequence of two tokens or without old tokens, or an id
    ///   outside 0..<V+k.
    public func train(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> Result {
        let k = tokens.count
        try check(window >= 1 && negatives >= 1 && steps >= 1 && batchSize >= 1 && learningRate > 0,
                  "CW2V settings are positive",
                  "window \(window), negatives \(negatives), steps \(steps), batchSize \(batchSize), learningRate \(learningRate)")
        try check(v >= 1 && c >= 1 && matrix.count == v * c, "the old matrix is [V, C]", "\(matrix.count) values for V = \(v), C = \(c)")
        let total = v + k
        for s in corpus {
            if let bad = s.first(where: { $0 < 0 || $0 >= total }) {
                try check(false, "CW2V corpus ids are in 0..<V+k", "id \(bad) with V = \(v), k = \(k)")
            }
        }
        let sequences = corpus.filter { $0.count >= 2 }
        try check(!sequences.isEmpty, "CW2V corpus has a sequence of at least 2 tokens", "\(corpus.count) sequences")
        let e = Tensor(matrix, shape: [v, c])                                   // [V, C], frozen
        var logits = [Float](repeating: 0, count: k * v)                         // a: [k, V], uniform start
        func result(_ contextLosses: [Double], _ losses: [Double]) -> Result {
            guard k > 0 else { return Result(weights: [], rows: [], contextLosses: contextLosses, losses: losses) }
            let weights = Tensor(logits, shape: [k, v]).softmax(axis: -1)                   // [k, V]
            return Result(weights: weights.floats(), rows: weights.matmul(e).floats(), contextLosses: contextLosses, losses: losses)
        }

        if k == 0 { return result([], []) }
        // Positions: flat ids, and for each position the bounds of its sequence.
        var flat: [Int] = [], lower: [Int] = [], upper: [Int] = []
        for s in sequences {
            let lo = flat.count
            flat += s
            lower += Array(repeating: lo, count: s.count)
            upper += Array(repeating: lo + s.count, count: s.count)
        }
        let oldPositions = flat.indices.filter { flat[$0] < v }, newPositions = flat.indices.filter { flat[$0] >= v }
        try check(!oldPositions.isEmpty, "CW2V corpus has old tokens (they train the context vectors)", "only new ids")
        // Negative sampling table: cumulative unigram^0.75 over all ids.
        var counts = [Double](repeating: 0, count: total)
        for id in flat { counts[id] += 1 }
        var cumulative = [Double](repeating: 0, count: total)
        var acc = 0.0
        for i in 0..<total { acc += Foundation.pow(counts[i], 0.75); cumulative[i] = acc }

        var g = RandomGenerator(seed: seed)
        let b = batchSize, n = negatives
        /// A batch of (centre, context, negatives) drawn around random positions of `pool`.
        func batch(_ pool: [Int]) -> (centres: [Int], contexts: Tensor, negatives: Tensor) {
            var centres = [Int](), contexts = [Int](), negs = [Int]()
            centres.reserveCapacity(b); contexts.reserveCapacity(b); negs.reserveCapacity(b * n)
            for _ in 0..<b {
                let p = pool[Int(g.next() % UInt64(pool.count))]
                let lo = max(lower[p], p - window), hi = min(upper[p] - 1, p + window)
                var o = lo + Int(g.next() % UInt64(hi - lo))                    // hi - lo ≥ 1: the sequence has ≥ 2 tokens
                if o >= p { o += 1 }
                centres.append(flat[p]); contexts.append(flat[o])
                for _ in 0..<n { negs.append(Self.sample(cumulative, uniform: g.nextUniform() * acc)) }
            }
            return (centres, Tensor(indices: contexts), Tensor(indices: negs))
        }
        func skipGramLoss(_ u: Tensor, _ context: Tensor, _ bt: (centres: [Int], contexts: Tensor, negatives: Tensor)) -> Tensor {
            let cPos = context.indexSelect(axis: 0, index: bt.contexts)                     // [B, C]
            let cNeg = context.indexSelect(axis: 0, index: bt.negatives).reshaped([b, n, c]) // [B·n, C] → [B, n, C]
            let pos = (u * cPos).sum(axes: [1])                                             // [B]
            let neg = (u.unsqueezed(1) * cNeg).sum(axes: [2])                               // [B, n]
            return (Self.logSigmoid(pos).mean() + Self.logSigmoid(neg * -1).sum(axes: [1]).mean()) * -1
        }

        // Phase 1: old centres (frozen rows of E) train the context vectors.
        var context = [Float](repeating: 0, count: total * c)                    // [V + k, C]
        var adamC = FlatAdam(count: context.count)
        var contextLosses: [Double] = []
        for step in 1...steps {
            let bt = batch(oldPositions)
            let u = e.indexSelect(axis: 0, index: Tensor(indices: bt.centres))                // [B, C]
            let (loss, grads) = valueAndGradients(at: [Tensor(context, shape: [total, c])]) { p in skipGramLoss(u, p[0], bt) }
            contextLosses.append(loss.item())
            adamC.step(&context, gradient: grads[0].floats(), learningRate: learningRate, step: step)
        }
        guard !newPositions.isEmpty else { return result(contextLosses, []) }

        // Phase 2: new centres, frozen contexts; only the convex logits move.
        let frozen = Tensor(context, shape: [total, c])
        var adamA = FlatAdam(count: logits.count)
        var losses: [Double] = []
        for step in 1...steps {
            let bt = batch(newPositions)
            let rowsOfCentres = Tensor(indices: bt.centres.map { $0 - v })
            let (loss, grads) = valueAndGradients(at: [Tensor(logits, shape: [k, v])]) { p in
                let u = p[0].softmax(axis: -1).matmul(e).indexSelect(axis: 0, index: rowsOfCentres)   // [k, C] → [B, C]
                return skipGramLoss(u, frozen, bt)
            }
            losses.append(loss.item())
            adamA.step(&logits, gradient: grads[0].floats(), learningRate: learningRate, step: step)
        }
        return result(contextLosses, losses)
    }

    public func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        try train(for: tokens, matrix: matrix, rows: v, columns: c).rows
    }

    /// Learns the weights once on the first matrix (the token embedding) and applies the same
    /// convex weights to the others (an untied head), so head rows are convex combinations too.
    public func rows(for tokens: [NewToken], matrices: [[Float]], rows v: Int, columns c: Int) throws -> [[Float]] {
        guard let first = matrices.first else { return [] }
        let r = try train(for: tokens, matrix: first, rows: v, columns: c)
        guard matrices.count > 1 else { return [r.rows] }
        let w = Tensor(r.weights, shape: [tokens.count, v])                                   // [k, V]
        return [r.rows] + matrices.dropFirst().map { w.matmul(Tensor($0, shape: [v, c])).floats() }   // [k, C] each
    }

    /// log σ(x) = −relu(−x) − log(1 + e^{−|x|}), stable for large |x|.
    static func logSigmoid(_ x: Tensor) -> Tensor {
        (x * -1).relu() * -1 - ((x.abs() * -1).exp() + 1).log()
    }

    /// The id whose cumulative weight first exceeds `uniform` (binary search).
    static func sample(_ cumulative: [Double], uniform: Double) -> Int {
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > uniform { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    private func check(_ condition: Bool, _ constraint: String, _ detail: @autoclosure () -> String) throws {
        if !condition { throw GrowthError.constraintViolated(operator: "vocab", constraint: constraint, detail: detail()) }
    }
}

/// Adam (Kingma & Ba 2015) on a flat Float array, for the small word2vec problem.
private struct FlatAdam {
    var m: [Float], v: [Float]
    let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8

    init(count: Int) {
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    mutating func step(_ x: inout [Float], gradient: [Float], learningRate: Double, step t: Int) {
        let c1 = 1 - Foundation.pow(beta1, Float(t)), c2 = 1 - Foundation.pow(beta2, Float(t))
        let lr = Float(learningRate)
        for i in x.indices {
            let gi = gradient[i]
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            x[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
        }
    }
}
