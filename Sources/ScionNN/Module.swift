// The parameter tree: `Module`, `Parameter` and `ModuleEntry`. A module lists its parameters and
// children under their Hugging Face keys, verbatim, so a parameter's path *is* its checkpoint name
// ("model.layers.0.self_attn.q_proj.weight"). Generic algorithms (named parameters, strict
// loading, state dictionaries, freezing) are written once here, without reflection.
// Invariant: module structure is fixed after init; loading and training change what parameters hold.

import Foundation
import ScionTensor

/// A tensor with identity: optimizers, adapters and loaders replace its value in place.
///
/// When trainable, `value` is a gradient leaf, so `loss.backward()[parameter.value]` is its gradient.
public final class Parameter: @unchecked Sendable {
    private var storedValue: Tensor
    /// Whether gradients flow to this parameter.
    public private(set) var isTrainable: Bool

    /// A parameter holding `value`.
    public init(_ value: Tensor, trainable: Bool = true) {
        let trainable = trainable && value.dtype.isComputeFloat
        storedValue = trainable ? value.detached().requiringGradient() : value.detached()
        isTrainable = trainable
    }

    /// The current value (a gradient leaf when trainable).
    public var value: Tensor {
        get { storedValue }
        set { storedValue = isTrainable ? newValue.detached().requiringGradient() : newValue.detached() }
    }

    /// Turns gradient tracking on or off.
    public func setTrainable(_ trainable: Bool) {
        isTrainable = trainable && storedValue.dtype.isComputeFloat
        storedValue = isTrainable ? storedValue.detached().requiringGradient() : storedValue.detached()
    }

    /// Makes the value `tensor` *with* its gradient graph: the parameter becomes a function of other
    /// parameters (weight generation, e.g. TLEG's θ_A + (l/L)·θ_B or SWS's stage-shared layers in
    /// ScionGrowth), so a loss's gradients flow through it to the parameters it was computed from.
    /// The parameter itself is frozen (not trainable); assigning ``value`` or calling
    /// ``setTrainable(_:)`` cuts the link again. Re-bind before every forward pass: an optimizer step
    /// replaces the source values, not this one.
    public func bindDerived(_ tensor: Tensor) {
        precondition(tensor.shape == storedValue.shape, "bindDerived: shape \(tensor.shape) for a parameter of shape \(storedValue.shape)")
        isTrainable = false
        storedValue = tensor
    }

    /// Shape of the value.
    public var shape: [Int] { storedValue.shape }
}

/// One named entry of a module: a parameter, a quantized weight, a child module or a list of children.
public enum ModuleEntry {
    case parameter(String, Parameter)
    case quantized(String, QuantizedMatrix)
    case child(String, any Module)
    /// "layers" → "layers.0", "layers.1", …
    case list(String, [any Module])
}

/// A node of the parameter tree.
public protocol Module: AnyObject {
    /// Direct parameters and children under their Hugging Face keys, in checkpoint order.
    var entries: [ModuleEntry] { get }
}

/// Errors from loading a state dictionary into a module.
public enum ModuleError: Error, Equatable, CustomStringConvertible {
    /// Keys the module needs that the checkpoint lacks, keys the checkpoint has that the module does not,
    /// and keys whose shapes differ — all reported together.
    case keyMismatch(missing: [String], unexpected: [String], shapeMismatches: [ShapeMismatch])
    /// A quantized weight's format or shape does not fit its place.
    case incompatibleQuantizedWeight(key: String, reason: String)

    public struct ShapeMismatch: Equatable, Sendable {
        public var key: String, expected: [Int], actual: [Int]
        public init(key: String, expected: [Int], actual: [Int]) {
            self.key = key; self.expected = expected; self.actual = actual
        }
    }

    public var description: String {
        switch self {
        case .keyMismatch(let missing, let unexpected, let shapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(missing.prefix(20).joined(separator: ", "))\(missing.count > 20 ? " (+\(missing.count - 20) more)" : "")") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.prefix(20).joined(separator: ", "))\(unexpected.count > 20 ? " (+\(unexpected.count - 20) more)" : "")") }
            for s in shapes.prefix(20) { parts.append("\(s.key): expected shape \(s.expected), checkpoint has \(s.actual)") }
            return "checkpoint does not match the model: " + parts.joined(separator: "; ")
        case .incompatibleQuantizedWeight(let key, let reason): return "\(key): \(reason)"
        }
    }
}

/// A parameter-tree leaf reached by a walk: a dense parameter or a quantized weight.
public enum ModuleLeaf {
    case parameter(Parameter)
    case quantized(QuantizedMatrix)
}

extension Module {
    /// Every leaf with its full dotted key, depth first, in entry order. A leaf reachable from two
    /// places (tied weights) appears once, under the first key.
    public func namedLeaves(prefix: String = "") -> [(String, ModuleLeaf)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, ModuleLeaf)] = []
        func walk(_ m: any Module, _ p: String) {
            for e in m.entries {
                switch e {
                case .parameter(let k, let param):
                    if seen.insert(ObjectIdentifier(param)).inserted { out.append((p + k, .parameter(param))) }
                case .quantized(let k, let q):
                    if seen.insert(ObjectIdentifier(q)).inserted { out.append((p + k, .quantized(q))) }
                case .child(let k, let c): walk(c, p + k + ".")
                case .list(let k, let cs): for (i, c) in cs.enumerated() { walk(c, p + k + ".\(i).") }
                }
            }
        }
        walk(self, prefix)
        return out
    }

    /// Every dense parameter with its full key (tied parameters once).
    public func namedParameters(prefix: String = "") -> [(String, Parameter)] {
        namedLeaves(prefix: prefix).compactMap { if case .parameter(let p) = $0.1 { return ($0.0, p) } else { return nil } }
    }

    /// The parameter at a dotted key, if any.
    public func parameter(at key: String) -> Parameter? {
        namedParameters().first { $0.0 == key }?.1
    }

    /// Parameters with gradient tracking on.
    public func trainableParameters() -> [(String, Parameter)] { namedParameters().filter { $0.1.isTrainable } }

    /// Total number of weights (dense and quantized).
    public var numberOfParameters: Int {
        namedLeaves().reduce(0) { acc, e in
            switch e.1 {
            case .parameter(let p): return acc + p.value.count
            case .quantized(let q): return acc + q.rows * q.columns
            }
        }
    }

    /// Freezes parameters whose key satisfies `predicate` (all when nil) and unfreezes the rest.
    public func freeze(where predicate: ((String) -> Bool)? = nil) {
        for (k, p) in namedParameters() { p.setTrainable(!(predicate?(k) ?? true)) }
    }

    /// Dense tensors by key (quantized weights are dequantized), for saving.
    public func stateDictionary() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, leaf) in namedLeaves() {
            switch leaf {
            case .parameter(let p): d[k] = p.value.detached()
            case .quantized(let q): d[k] = q.dequantized()
            }
        }
        return d
    }

    /// Loads `tensors` (keyed by full names) into the parameters. Strict loading reports every missing,
    /// unexpected and wrongly shaped key together and changes nothing when any is found.
    /// Values are cast to each parameter's dtype.
    public func load(_ tensors: [String: Tensor], strict: Bool = true) throws {
        let leaves = namedLeaves()
        var missing: [String] = [], mismatched: [ModuleError.ShapeMismatch] = []
        let known = Set(leaves.map { $0.0 })
        for (k, leaf) in leaves {
            guard let t = tensors[k] else { missing.append(k); continue }
            let expected: [Int]
            switch leaf {
            case .parameter(let p): expected = p.shape
            case .quantized(let q): expected = [q.rows, q.columns]
            }
            if t.shape != expected { mismatched.append(.init(key: k, expected: expected, actual: t.shape)) }
        }
        let unexpected = tensors.keys.filter { !known.contains($0) }.sorted()
        if (strict && (!missing.isEmpty || !unexpected.isEmpty)) || !mismatched.isEmpty {
            throw ModuleError.keyMismatch(missing: strict ? missing : [], unexpected: strict ? unexpected : [],
                                          shapeMismatches: mismatched)
        }
        for (k, leaf) in leaves {
            guard let t = tensors[k], case .parameter(let p) = leaf else { continue }
            p.value = t.cast(p.value.dtype)
        }
    }
}
