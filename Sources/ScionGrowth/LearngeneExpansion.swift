// Learngene expansion: instantiate a model of any depth from a small "gene" checkpoint.
// - TLEG (Xia et al. 2024, "Transformer as Linear Expansion of Learngene", §3): the gene holds two
//   layers' worth of parameters θ_A (layer 0) and θ_B (layer 1); layer l of an L-layer model is
//   θ_A + (l/L)·θ_B for l = 1…L. `extractGene` fits θ_A, θ_B to a trained model by least squares
//   over depth (a training-free baseline; the paper trains the gene by distillation).
// - SWS (Learngene, stage-wise weight sharing): the gene holds one layer per stage; a depth profile
//   (d_1…d_S) copies stage s's layer into d_s consecutive layers.
// The genes are trained by distillation from a teacher in LearngeneTraining.swift (the auxiliary
// model of LearngeneModel.swift generates its layers with exactly these formulas).

import Foundation
import ScionTensor

/// Builds a model of any depth from a learngene checkpoint (TLEG or SWS).
public struct LearngeneExpansion: GrowthOperator {
    /// How the gene becomes layers.
    public enum Mode: Sendable, Equatable {
        /// TLEG: a 2-layer gene (θ_A, θ_B) → `depth` layers θ_A + (l/depth)·θ_B.
        case tleg(depth: Int)
        /// SWS: an S-layer gene → d_s copies of layer s, for the profile (d_1…d_S).
        case sws(profile: [Int])
    }

    public static let name = "learngene"
    /// The expansion rule.
    public var mode: Mode

    public init(_ mode: Mode) { self.mode = mode }

    public var preservesFunction: Bool { false }

    public var parameters: [String: String] {
        switch mode {
        case .tleg(let d): return ["mode": "tleg", "depth": "\(d)"]
        case .sws(let p): return ["mode": "sws", "profile": p.map(String.init).joined(separator: ",")]
        }
    }

    public func validate(_ source: Checkpoint) throws {
        let l = source.layerCount, key = source.family.layerCountKey
        switch mode {
        case .tleg(let depth):
            try require(l == 2, "gene \(key) == 2 (θ_A, θ_B)", "the gene has \(l) layers")
            try require(depth >= 1, "depth >= 1", "depth \(depth)")
        case .sws(let profile):
            try require(profile.count == l, "profile length == gene \(key)", "\(profile.count) stages for a \(l)-layer gene")
            try require(profile.allSatisfy { $0 >= 1 }, "every stage depth >= 1", "profile \(profile)")
        }
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        try validate(source)
        let derived = source.derived(operatorName: Self.name, parameters: parameters)
        switch mode {
        case .sws(let profile):
            let map = profile.enumerated().flatMap { s, d in Array(repeating: s, count: d) }
            let genes = (0..<source.layerCount).map { source.layer($0) }
            return try derived.replacingLayers(map.map { genes[$0] }, layerSource: map)
        case .tleg(let depth):
            let a = source.layer(0), b = source.layer(1)
            var layers: [[String: Tensor]] = []
            for i in 0..<depth {
                let w = Float(i + 1) / Float(depth)          // l/L with l = 1…L
                var layer: [String: Tensor] = [:]
                for (k, ta) in a {
                    let va = ta.floats(), vb = b[k]!.floats()
                    layer[k] = Tensor(zip(va, vb).map { $0 + w * $1 }, shape: ta.shape)
                }
                layers.append(layer)
            }
            return try derived.replacingLayers(layers, layerSource: Array(repeating: 0, count: depth))
        }
    }

    /// A TLEG gene fitted to a trained model: per parameter, the least-squares line θ_l ≈ θ_A + (l/L)·θ_B
    /// over its L layers, returned as a 2-layer checkpoint (layer 0 = θ_A, layer 1 = θ_B).
    ///
    /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` for fewer than 2 layers.
    public static func extractGene(from source: Checkpoint) throws -> Checkpoint {
        let l = source.layerCount
        guard l >= 2 else {
            throw GrowthError.constraintViolated(operator: name, constraint: "\(source.family.layerCountKey) >= 2",
                                                 detail: "a line needs at least 2 layers, got \(l)")
        }
        let t = (1...l).map { Double($0) / Double(l) }
        let tMean = t.reduce(0, +) / Double(l)
        let tVar = t.reduce(0) { $0 + ($1 - tMean) * ($1 - tMean) }
        let layers = (0..<l).map { source.layer($0) }
        var a: [String: Tensor] = [:], b: [String: Tensor] = [:]
        for (k, t0) in layers[0] {
            let values = layers.map { $0[k]!.floats() }
            var va = [Float](repeating: 0, count: values[0].count), vb = va
            for j in 0..<va.count {
                let mean = values.reduce(0.0) { $0 + Double($1[j]) } / Double(l)
                var cov = 0.0
                for i in 0..<l { cov += (t[i] - tMean) * (Double(values[i][j]) - mean) }
                let slope = cov / tVar
                vb[j] = Float(slope)
                va[j] = Float(mean - slope * tMean)
            }
            a[k] = Tensor(va, shape: t0.shape)
            b[k] = Tensor(vb, shape: t0.shape)
        }
        return try source.derived(operatorName: "learngene-extract", parameters: ["mode": "tleg"])
            .replacingLayers([a, b], layerSource: [0, l - 1])
    }
}
