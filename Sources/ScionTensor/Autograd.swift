// Reverse-mode automatic differentiation on a tape.
// Every op whose input requires a gradient records a GradNode holding its parents' nodes, their
// shapes and only the tensors its backward rule needs. `backward` walks the nodes in reverse
// topological order and *adds* each parent's gradient into the store (accumulation is `+=`).
// The backward pass runs with recording switched off (no higher-order gradients).

import Foundation

/// A recorded operation (or a leaf) in the gradient graph.
final class GradNode: @unchecked Sendable {
    let op: Primitive
    let parents: [GradNode?]
    let inputShapes: [[Int]]
    let inputDTypes: [DType]
    let saved: [Tensor]
    /// For `.checkpoint`: the function to recompute, and its inputs.
    let recompute: (([Tensor]) -> Tensor)?

    init(op: Primitive, parents: [GradNode?], inputShapes: [[Int]], inputDTypes: [DType], saved: [Tensor],
         recompute: (([Tensor]) -> Tensor)? = nil) {
        self.op = op; self.parents = parents; self.inputShapes = inputShapes
        self.inputDTypes = inputDTypes; self.saved = saved; self.recompute = recompute
    }
}

/// Whether ops record gradients in the current task.
public enum GradientMode {
    @TaskLocal static var isEnabled = true
    /// True when ops record the tape in the current task.
    public static var enabled: Bool { isEnabled }
}

/// Runs `body` without recording gradients (inference, optimizer updates).
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.$isEnabled.withValue(false) { try body() }
}

extension Tensor {
    /// True when gradients flow to this tensor (it is a trainable leaf or computed from one).
    public var requiresGradient: Bool { node != nil }

    /// This tensor as a new trainable leaf (same storage).
    public func requiringGradient() -> Tensor {
        precondition(dtype.isComputeFloat, "requiringGradient: dtype \(dtype) cannot carry gradients")
        return Tensor(shape: shape, strides: strides, offset: offset, dtype: dtype, storage: storage,
                      node: GradNode(op: .leaf, parents: [], inputShapes: [], inputDTypes: [], saved: []))
    }

    /// The same values, cut off from the gradient graph.
    public func detached() -> Tensor {
        Tensor(shape: shape, strides: strides, offset: offset, dtype: dtype, storage: storage, node: nil)
    }

    /// A stable identity for this tensor's place in the graph (nil when it requires no gradient).
    public var gradientID: ObjectIdentifier? { node.map { ObjectIdentifier($0) } }

    /// Attaches a node for `op` to `self` (a freshly computed output) when any input requires a gradient.
    func recorded(_ op: Primitive, _ inputs: [Tensor], saving saved: @autoclosure () -> [Tensor] = []) -> Tensor {
        guard GradientMode.isEnabled, inputs.contains(where: { $0.node != nil }) else { return self }
        let node = GradNode(op: op, parents: inputs.map { $0.node }, inputShapes: inputs.map { $0.shape },
                            inputDTypes: inputs.map { $0.dtype }, saved: saved())
        return Tensor(shape: shape, strides: strides, offset: offset, dtype: dtype, storage: storage, node: node)
    }
}

/// Gradients of one backward pass, looked up by the tensor they belong to.
///
/// Keys are node identities; the set keeps every keyed node alive (`anchors`), so an identity can
/// never be reused by a new tensor while a gradient is stored under it (a parameter replaced after
/// backward would otherwise be able to pick up a freed node's gradient).
public struct Gradients: Sendable {
    var values: [ObjectIdentifier: Tensor]
    var anchors: [ObjectIdentifier: GradNode]

    init(values: [ObjectIdentifier: Tensor], anchors: [ObjectIdentifier: GradNode]) {
        self.values = values
        self.anchors = anchors.filter { values[$0.key] != nil }
    }

    /// An empty set of gradients, to fill by subscript (tests, gradient accumulation, clipping).
    public init() { values = [:]; anchors = [:] }

    /// The gradient for `tensor`, or nil when no gradient reached it.
    ///
    /// Setting stores (or, with nil, removes) the gradient of `tensor`, which must require a gradient.
    public subscript(_ tensor: Tensor) -> Tensor? {
        get {
            guard let id = tensor.gradientID else { return nil }
            return values[id]
        }
        set {
            guard let node = tensor.node else {
                preconditionFailure("Gradients: a gradient can only be stored for a tensor that requires one")
            }
            let id = ObjectIdentifier(node)
            values[id] = newValue
            anchors[id] = newValue == nil ? nil : node
        }
    }

    /// Number of tensors with a gradient.
    public var count: Int { values.count }
}

extension Tensor {
    /// Back-propagates from this tensor (seeded with ones, or `seed`) and returns the gradients of
    /// every leaf reached.
    public func backward(seed: Tensor? = nil) -> Gradients {
        var leaves: [ObjectIdentifier: GradNode] = [:]
        let store = Autograd.run(roots: [(self, seed ?? Tensor.ones(shape, dtype: dtype))], keep: nil, leaves: &leaves)
        return Gradients(values: store, anchors: leaves)
    }

    /// Gradients of this tensor with respect to `inputs` (zeros for inputs it does not depend on).
    public func gradients(of inputs: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        let keep = Set(inputs.compactMap { $0.gradientID })
        var leaves: [ObjectIdentifier: GradNode] = [:]
        let store = Autograd.run(roots: [(self, seed ?? Tensor.ones(shape, dtype: dtype))], keep: keep, leaves: &leaves)
        return inputs.map { x in x.gradientID.flatMap { store[$0] } ?? Tensor.zeros(x.shape, dtype: x.dtype) }
    }
}

/// `f(xs)` and its gradient with respect to each of `xs` (which need not require gradients yet).
public func valueAndGradients(at xs: [Tensor], _ f: ([Tensor]) -> Tensor) -> (value: Tensor, gradients: [Tensor]) {
    let leaves = xs.map { $0.requiringGradient() }
    let y = f(leaves)
    precondition(y.count == 1, "valueAndGradients: the function must return one element, got shape \(y.shape)")
    return (y.detached(), y.gradients(of: leaves))
}

enum Autograd {
    /// Runs reverse mode from `roots`. Keeps gradients of leaves and of `keep` (all leaves when nil).
    /// `leaves` receives every leaf node the walk reached (for ``Gradients``' anchors).
    static func run(roots: [(Tensor, Tensor)], keep: Set<ObjectIdentifier>?,
                    leaves: inout [ObjectIdentifier: GradNode]) -> [ObjectIdentifier: Tensor] {
        var store: [ObjectIdentifier: Tensor] = [:]
        withoutGradients {
            backpropagate(roots: roots, store: &store, keep: keep, boundary: [:], leaves: &leaves)
        }
        return store
    }

    /// The core walk. `boundary` maps nodes where propagation stops (checkpoint inputs).
    static func backpropagate(roots: [(Tensor, Tensor)], store: inout [ObjectIdentifier: Tensor],
                              keep: Set<ObjectIdentifier>?, boundary: [ObjectIdentifier: Int],
                              leaves: inout [ObjectIdentifier: GradNode]) {
        // Topological order by iterative depth-first search.
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Int)] = []
        for (root, seed) in roots {
            guard let n = root.node else { continue }
            precondition(seed.shape == root.shape, "backward: seed shape \(seed.shape) ≠ output shape \(root.shape)")
            accumulate(&store, ObjectIdentifier(n), seed)
            if visited.insert(ObjectIdentifier(n)).inserted { stack.append((n, 0)) }
            while let (node, i) = stack.popLast() {
                if i < node.parents.count && boundary[ObjectIdentifier(node)] == nil {
                    stack.append((node, i + 1))
                    if let p = node.parents[i], visited.insert(ObjectIdentifier(p)).inserted { stack.append((p, 0)) }
                } else {
                    order.append(node)
                }
            }
        }
        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            if node.op == .leaf { leaves[id] = node; continue }
            if boundary[id] != nil { continue }
            guard let g = store[id] else { continue }
            // A non-leaf's gradient is dead once its node has run (the walk drops it at the end anyway):
            // dropping it now lets its memory go back to the pool for the next node, so backward keeps
            // about one layer's gradients alive instead of all of them (the [N, 50257] logits gradient
            // alone is 100-200 MB for GPT-2 124M at B4×T64-B8×T128).
            if !(keep?.contains(id) ?? false) { store[id] = nil }
            // Embedding backward into an existing gradient (a tied LM head already wrote the 50257×768
            // weight's gradient): add the looked-up rows in place instead of zero-filling a second
            // 154 MB tensor and adding the two (~600 MB of memory traffic per step).
            if case .indexSelect(let axis) = node.op, let parent = node.parents[0],
               scatterRowsInPlace(&store, ObjectIdentifier(parent), g, axis: axis, index: node.saved[0]) {
                continue
            }
            let grads: [Tensor?]
            if case .checkpoint = node.op {
                grads = checkpointBackward(node, g, store: &store, keep: keep, leaves: &leaves)
            } else {
                grads = vjp(node, g)
            }
            for (k, parent) in node.parents.enumerated() {
                guard let parent, let gk = grads[k] else { continue }
                precondition(gk.shape == node.inputShapes[k],
                             "backward: \(node.op) produced gradient \(gk.shape) for input \(node.inputShapes[k])")
                accumulate(&store, ObjectIdentifier(parent), gk)
            }
        }
        // Keep only leaves (or requested nodes): drop this walk's non-leaf nodes.
        // NOTE: a checkpoint's recomputation adds gradients for parameters its function captured;
        // those leaves are not nodes of this walk, so they must not be dropped as "non-leaves".
        for node in order where node.op != .leaf {
            let key = ObjectIdentifier(node)
            if !(keep?.contains(key) ?? false) && boundary[key] == nil { store[key] = nil }
        }
    }

    /// Adds `g` to the gradient stored for `id`. When the stored gradient's memory is used by nothing
    /// else (the common case: residual streams, tied weights), the sum is written into it; the values
    /// are the same as `old + g`, element by element, without a fresh buffer and a third pass.
    static func accumulate(_ store: inout [ObjectIdentifier: Tensor], _ id: ObjectIdentifier, _ g: Tensor) {
        guard store[id] != nil else { store[id] = g; return }
        let (old, unique) = takeGradient(&store, id)
        if unique && old.isContiguous && old.shape == g.shape && old.dtype == g.dtype && old.dtype.isComputeFloat {
            Kernels.addInPlace(old, g)
            store[id] = old
        } else {
            store[id] = old + g
        }
    }

    /// Removes the gradient stored for `id` (which must exist) and says whether its storage is
    /// referenced by nothing else, so that it may be written in place (tensors are otherwise immutable).
    static func takeGradient(_ store: inout [ObjectIdentifier: Tensor], _ id: ObjectIdentifier) -> (Tensor, Bool) {
        var taken: Tensor? = store.removeValue(forKey: id)
        let (shape, strides, offset, dtype) = (taken!.shape, taken!.strides, taken!.offset, taken!.dtype)
        var storage = taken!.storage
        taken = nil
        // NOTE: a false "not unique" only costs the fast path; a shared buffer can never look unique.
        let unique = isKnownUniquelyReferenced(&storage) && storage.ownsMemory
        return (Tensor(shape: shape, strides: strides, offset: offset, dtype: dtype, storage: storage, node: nil), unique)
    }

    /// Embedding backward straight into the existing gradient of its weight: adds row k of `g` to row
    /// index[k] in index order (one writer per column, so thread-count independent). Returns false,
    /// changing nothing, when there is no stored gradient or it cannot be written in place.
    /// NOTE: rounding is old + g₁ + g₂ rather than old + (g₁ + g₂) for a repeated index.
    static func scatterRowsInPlace(_ store: inout [ObjectIdentifier: Tensor], _ id: ObjectIdentifier, _ g: Tensor,
                                   axis: Int, index: Tensor) -> Bool {
        guard axis == 0, store[id] != nil else { return false }
        let (old, unique) = takeGradient(&store, id)
        store[id] = old
        guard unique, old.isContiguous, old.dtype == g.dtype, old.dtype.isComputeFloat,
              old.rank == g.rank, Array(old.shape.dropFirst()) == Array(g.shape.dropFirst()) else { return false }
        Kernels.indexAdd(g, axis: 0, index: index, into: old)
        return true
    }

    /// Recomputes a checkpointed function with recording on, then back-propagates through it.
    static func checkpointBackward(_ node: GradNode, _ g: Tensor, store: inout [ObjectIdentifier: Tensor],
                                   keep: Set<ObjectIdentifier>?, leaves: inout [ObjectIdentifier: GradNode]) -> [Tensor?] {
        guard let f = node.recompute else { return node.parents.map { _ in nil } }
        // Integer inputs (indices) carry no gradient: pass them through unchanged.
        let inputs = node.saved.map { $0.dtype.isComputeFloat ? $0.requiringGradient() : $0 }
        let out = GradientMode.$isEnabled.withValue(true) { f(inputs) }
        var boundary: [ObjectIdentifier: Int] = [:]
        for (i, x) in inputs.enumerated() { if let id = x.gradientID { boundary[id] = i } }
        var inner: [ObjectIdentifier: Tensor] = [:]
        backpropagate(roots: [(out, g)], store: &inner, keep: keep, boundary: boundary, leaves: &leaves)
        var result: [Tensor?] = Array(repeating: nil, count: inputs.count)
        for (id, grad) in inner {
            if let i = boundary[id] { result[i] = grad } else { accumulate(&store, id, grad) }
        }
        return result
    }
}

extension Tensor {
    /// Gradient checkpointing: computes `f(inputs)` without keeping its intermediate tensors, and
    /// recomputes them during backward. `f` may capture trainable leaves (parameters); any other
    /// tensor that requires a gradient must be passed in `inputs`.
    public static func checkpointed(_ inputs: [Tensor], _ f: @escaping ([Tensor]) -> Tensor) -> Tensor {
        let out = withoutGradients { f(inputs.map { $0.detached() }) }
        guard GradientMode.isEnabled else { return out }
        let node = GradNode(op: .checkpoint, parents: inputs.map { $0.node }, inputShapes: inputs.map { $0.shape },
                            inputDTypes: inputs.map { $0.dtype }, saved: inputs.map { $0.detached() }, recompute: f)
        return Tensor(shape: out.shape, strides: out.strides, offset: out.offset, dtype: out.dtype,
                      storage: out.storage, node: node)
    }
}
