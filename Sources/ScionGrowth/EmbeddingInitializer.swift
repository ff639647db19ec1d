// Initializers for the embedding rows of new tokens, from the CW2V study (TECHNIQUES.md row 10,
// §3.2): all keep new rows inside (or near) the convex hull of the old rows. Mean of all rows,
// mean of the token's old sub-pieces, and a sample from a multivariate Gaussian fitted to the old
// rows. With a tied head, mean-of-all-rows provably moves the next-token distribution on
// old-vocabulary text by KL ≤ log(1 + k/V) (Jensen: each new logit is the mean of the old logits).
// The learned initializers live in their own files: CW2VInitializer (convex weights from a
// constrained skip-gram) and OFAInitializer (SVD coordinates of similar old tokens).

import Foundation
import ScionTensor

/// A new token as initializers see it.
public struct NewToken: Sendable, Equatable {
    /// The token's text.
    public var content: String
    /// Old-vocabulary ids the old tokenizer splits `content` into (may be empty when unknown).
    public var pieces: [Int]

    public init(content: String, pieces: [Int]) { self.content = content; self.pieces = pieces }
}

/// Computes rows for new tokens from an old embedding (or output-head) matrix.
public protocol EmbeddingInitializer: Sendable {
    /// The name the CLI and the lineage manifest use ("mean", "pieces", "gaussian", "cw2v", "ofa").
    var name: String { get }
    /// Rows [k, C] (row-major) for `tokens`, given the old matrix `matrix` [V, C] (row-major).
    ///
    /// - Throws: ``GrowthError`` when a token lacks what the initializer needs (e.g. pieces).
    func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float]
    /// Rows [k, C] for each of several old matrices of one vocabulary: the token embedding first,
    /// then an untied output head. The default initializes each matrix on its own; initializers
    /// that learn per-token weights (CW2V) learn them once on the first matrix and reuse them.
    ///
    /// - Throws: ``GrowthError`` as ``rows(for:matrix:rows:columns:)``.
    func rows(for tokens: [NewToken], matrices: [[Float]], rows v: Int, columns c: Int) throws -> [[Float]]
}

extension EmbeddingInitializer {
    public func rows(for tokens: [NewToken], matrices: [[Float]], rows v: Int, columns c: Int) throws -> [[Float]] {
        try matrices.map { try rows(for: tokens, matrix: $0, rows: v, columns: c) }
    }
}

/// Every new row is the mean of all old rows.
public struct MeanInitializer: EmbeddingInitializer {
    public var name: String { "mean" }
    public init() {}
    public func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        let mu = EmbeddingStatistics.mean(matrix, rows: v, columns: c).map(Float.init)
        return Array(tokens.map { _ in mu }.joined())
    }
}

/// Each new row is the mean of the rows of the token's old sub-pieces.
public struct SubPieceMeanInitializer: EmbeddingInitializer {
    public var name: String { "pieces" }
    public init() {}
    public func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        var out: [Float] = []
        for t in tokens {
            guard !t.pieces.isEmpty, t.pieces.allSatisfy({ $0 >= 0 && $0 < v }) else {
                throw GrowthError.constraintViolated(operator: "vocab", constraint: "every new token has old sub-pieces",
                                                     detail: "'\(t.content)' has pieces \(t.pieces) (vocabulary \(v))")
            }
            var row = [Double](repeating: 0, count: c)
            for p in t.pieces { for j in 0..<c { row[j] += Double(matrix[p * c + j]) } }
            out += row.map { Float($0 / Double(t.pieces.count)) }
        }
        return out
    }
}

/// Each new row is a sample from N(μ, Σ) fitted to the old rows (Σ + εI for numerical safety).
public struct GaussianInitializer: EmbeddingInitializer {
    public var name: String { "gaussian" }
    /// The sampling seed.
    public var seed: UInt64
    public init(seed: UInt64 = 0) { self.seed = seed }

    public func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        let mu = EmbeddingStatistics.mean(matrix, rows: v, columns: c)
        var cov = [Double](repeating: 0, count: c * c)
        for i in 0..<v {
            for a in 0..<c {
                let da = Double(matrix[i * c + a]) - mu[a]
                for b in a..<c { cov[a * c + b] += da * (Double(matrix[i * c + b]) - mu[b]) }
            }
        }
        var trace = 0.0
        for a in 0..<c {
            for b in a..<c { cov[a * c + b] /= Double(max(v - 1, 1)); cov[b * c + a] = cov[a * c + b] }
            trace += cov[a * c + a]
        }
        // NOTE: with V ≤ C (or collinear rows) Σ is singular; a small ridge keeps Cholesky defined.
        let eps = max(1e-10, 1e-6 * trace / Double(c))
        for a in 0..<c { cov[a * c + a] += eps }
        let l = EmbeddingStatistics.cholesky(cov, n: c)
        var g = RandomGenerator(seed: seed)
        var out: [Float] = []
        for _ in tokens {
            let z = (0..<c).map { _ in g.nextNormal() }
            for a in 0..<c {
                var s = mu[a]
                for b in 0...a { s += l[a * c + b] * z[b] }
                out.append(Float(s))
            }
        }
        return out
    }
}

enum EmbeddingStatistics {
    static func mean(_ m: [Float], rows v: Int, columns c: Int) -> [Double] {
        var mu = [Double](repeating: 0, count: c)
        for i in 0..<v { for j in 0..<c { mu[j] += Double(m[i * c + j]) } }
        return mu.map { $0 / Double(v) }
    }

    /// Lower-triangular L with L·Lᵀ = a (a symmetric positive definite, n×n row-major).
    static func cholesky(_ a: [Double], n: Int) -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = i == j ? Swift.max(s, 1e-30).squareRoot() : s / l[j * n + j]
            }
        }
        return l
    }
}
