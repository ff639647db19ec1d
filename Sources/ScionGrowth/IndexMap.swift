// Index maps g: new unit → old unit, the object bert2BERT's FPI and Net2Net's widening are built on
// (Chen et al. 2022, "bert2BERT: Towards Reusable Pretrained Language Models", §3.1; Chen,
// Goodfellow & Shlens 2016, "Net2Net"). The first `old` entries are the identity, so the original
// units keep their positions and a grown model's first C channels are the old model's channels.

import Foundation
import ScionTensor

/// How new units choose the old unit they copy.
public enum UnitSelection: Sendable, Equatable, Codable {
    /// New unit j copies old unit j mod n. When the new size is a multiple of the old one, every unit
    /// is copied the same number of times, which keeps LayerNorm/RMSNorm statistics exact.
    case cyclic
    /// New units copy old units drawn uniformly at random (bert2BERT's choice), from `seed`.
    case random(seed: UInt64)
}

/// A map from new unit indices to old ones, with the number of copies of each old unit.
public struct IndexMap: Sendable, Equatable {
    /// `map[j]`: the old unit new unit j copies (`0 ≤ map[j] < oldCount`).
    public let map: [Int]
    /// The old size.
    public let oldCount: Int

    /// A map from `oldCount` units to `newCount ≥ oldCount`: identity first, then `selection`.
    public init(oldCount: Int, newCount: Int, selection: UnitSelection = .cyclic) {
        precondition(newCount >= oldCount && oldCount > 0, "IndexMap: \(oldCount) → \(newCount)")
        var m = Array(0..<oldCount)
        switch selection {
        case .cyclic:
            m += (oldCount..<newCount).map { $0 % oldCount }
        case .random(let seed):
            var g = RandomGenerator(seed: seed)
            m += (oldCount..<newCount).map { _ in Int(g.next() % UInt64(oldCount)) }
        }
        map = m
        self.oldCount = oldCount
    }

    /// An explicit map.
    public init(map: [Int], oldCount: Int) {
        precondition(map.allSatisfy { $0 >= 0 && $0 < oldCount }, "IndexMap: entries outside 0..<\(oldCount)")
        self.map = map
        self.oldCount = oldCount
    }

    /// The new size.
    public var newCount: Int { map.count }

    /// How many new units copy each old unit.
    public var copyCounts: [Int] {
        var c = [Int](repeating: 0, count: oldCount)
        for i in map { c[i] += 1 }
        return c
    }

    /// True when every old unit is copied the same number of times (normalization statistics are preserved).
    public var isUniform: Bool { Set(copyCounts).count == 1 }

    /// True when new unit j is one of the added copies (j ≥ old size).
    public var isNew: [Bool] { (0..<newCount).map { $0 >= oldCount } }

    /// For each new unit, 1 / (copies of the unit it copies): FPI's division of outgoing weights.
    public var outgoingScale: [Float] {
        let c = copyCounts
        return map.map { 1 / Float(c[$0]) }
    }

    /// The map expanded to blocks of `width` consecutive channels (a head map → a channel map).
    public func expanded(blockWidth width: Int) -> IndexMap {
        IndexMap(map: map.flatMap { i in (0..<width).map { i * width + $0 } }, oldCount: oldCount * width)
    }
}
