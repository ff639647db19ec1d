// G_stack depth growth: build a g·L-layer model by stacking copies of a trained L-layer stack,
// copying embeddings, final norm and head. Follows Du et al. 2024, "Stacking Your Transformers: A
// Closer Look at Model Growth for Efficient LLM Pre-Training" (G_stack, §3; g ≈ 4 is their
// recommended growth factor). Not function-preserving: the grown model must be trained further.
// The growth *time* (tokens trained before growing) is GStackTiming.swift's rule, applied by the
// growth runner.

import Foundation

/// Depth growth by stacking the layer stack (G_stack), or by any layer index map.
///
/// New layer i copies old layer `map[i]`:
/// ```
/// stacked     (default): map[i] = i mod L          (L=2, g=2: 0 1 0 1)
/// interleaved          : map[i] = ⌊i / g⌋          (L=2, g=2: 0 0 1 1)
/// custom               : any map with entries in 0..<L
/// ```
public struct GStack: GrowthOperator {
    /// How the copies are arranged.
    public enum Layout: Sendable, Equatable {
        /// g copies of the whole stack, one after another (the paper's G_stack).
        case stacked
        /// Each layer repeated g times in place.
        case interleaved
        /// An explicit map: new layer i copies old layer `map[i]`.
        case custom([Int])
    }

    public static let name = "gstack"
    /// The growth factor used when none is given: g = 4, Du et al.'s guidance.
    public static let defaultGrowthFactor = 4
    /// The growth factor g (the paper's guidance: 4). Ignored for `.custom`.
    public var growthFactor: Int
    /// The arrangement of copies.
    public var layout: Layout

    /// - Parameters:
    ///   - growthFactor: g, the new depth over the old (default 4, as Du et al. recommend).
    ///   - layout: stacked (default), interleaved, or a custom map.
    public init(growthFactor: Int = GStack.defaultGrowthFactor, layout: Layout = .stacked) {
        self.growthFactor = growthFactor
        self.layout = layout
    }

    public var preservesFunction: Bool { false }

    public var parameters: [String: String] {
        switch layout {
        case .stacked: return ["growth_factor": "\(growthFactor)", "layout": "stacked"]
        case .interleaved: return ["growth_factor": "\(growthFactor)", "layout": "interleaved"]
        case .custom(let m): return ["layout": "custom", "map": m.map(String.init).joined(separator: ",")]
        }
    }

    /// The layer index map for a source of `layerCount` layers.
    public func layerMap(layerCount l: Int) -> [Int] {
        switch layout {
        case .stacked: return (0..<(growthFactor * l)).map { $0 % l }
        case .interleaved: return (0..<(growthFactor * l)).map { $0 / growthFactor }
        case .custom(let m): return m
        }
    }

    public func validate(_ source: Checkpoint) throws {
        let l = source.layerCount
        try require(l > 0, "\(source.family.layerCountKey) > 0", "the source has \(l) layers")
        if case .custom(let m) = layout {
            try require(!m.isEmpty, "map is non-empty", "the custom layer map is empty")
            try require(m.allSatisfy { $0 >= 0 && $0 < l }, "0 <= map[i] < \(source.family.layerCountKey)",
                        "map \(m) has entries outside 0..<\(l)")
        } else {
            try require(growthFactor >= 1, "growth_factor >= 1", "growth_factor is \(growthFactor)")
        }
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        try validate(source)
        let map = layerMap(layerCount: source.layerCount)
        let old = (0..<source.layerCount).map { source.layer($0) }
        return try source.derived(operatorName: Self.name, parameters: parameters)
            .replacingLayers(map.map { old[$0] }, layerSource: map)
    }
}
