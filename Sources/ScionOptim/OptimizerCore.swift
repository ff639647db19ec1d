// Machinery shared by the optimizers: optimizer-owned Float buffers, the chunked parallel loop, and
// the step driver that hands each fused kernel raw pointers to (parameter, gradient, new value).
//
// How a parameter is updated (tensors are immutable; autograd and any other holder of the old value
// must never see it change): each step writes the updated parameter into *new* memory and replaces
// `Parameter.value`. The new memory is owned by the optimizer: each parameter has a spare buffer, and
// the memory behind a value returns to that spare slot only when the last tensor using it is gone.
// In steady state two buffers per parameter alternate (read old, write new in one pass), with no
// allocation, no zero-filling and no page faults; when someone still holds the old value, a fresh
// buffer is allocated instead and the held value stays intact. NOTE: memory behind optimizer-made values
// is not counted by `MemoryStats` (it wraps borrowed memory); the moments are not either.
// A parameter whose value changes shape between steps (IncreLoRA appends rank components to the same
// `Parameter`) gets its state resized: the old buffers keep their place in the leading corner of the
// new shape (appended rows / columns start at zero), before the step and before loading a state.

import Dispatch
import Foundation
import ScionNN
import ScionTensor

/// A zero-initialised, 64-byte-aligned Float buffer owned by an optimizer (moments, momentum).
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    func assign(_ values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    deinit { pointer.deallocate() }
}

/// One spare buffer for a parameter's next value; memory comes back here when its last tensor dies.
final class ValueRecycler: @unchecked Sendable {
    private let lock = NSLock()
    private var spare: UnsafeMutableRawPointer?
    let byteCount: Int

    init(byteCount: Int) { self.byteCount = byteCount }

    func take() -> UnsafeMutableRawPointer {
        lock.lock()
        let p = spare
        spare = nil
        lock.unlock()
        return p ?? UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    func give(_ p: UnsafeMutableRawPointer) {
        lock.lock()
        if spare == nil { spare = p; lock.unlock(); return }
        lock.unlock()
        p.deallocate()
    }

    deinit { spare?.deallocate() }
}

/// Owner of a recycled value buffer, kept alive by the `Storage` that borrows it.
final class RecycledMemory: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let recycler: ValueRecycler
    init(_ recycler: ValueRecycler) { self.recycler = recycler; pointer = recycler.take() }
    deinit { recycler.give(pointer) }
}

/// Carries pointers and closures into `parallelPerform`; chunks write disjoint ranges.
struct SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Splits `0..<count` into contiguous chunks over `ComputeSettings.threadCount` threads.
/// Every element is computed by exactly one chunk with the same arithmetic, so elementwise kernels
/// give bitwise-identical results for any thread count.
func forEachChunk(_ count: Int, grain: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = min(ComputeSettings.threadCount, max(1, count / grain))
    if chunks == 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        let box = SendableBox(body)
        parallelPerform(chunks) { c in
            box.value(count * c / chunks ..< count * (c + 1) / chunks)
        }
    }
}

/// Calls `body` with a pointer to `tensor`'s elements as contiguous Float32 (converting when needed).
func withFloat32Elements<R>(_ tensor: Tensor, _ body: (UnsafePointer<Float>) -> R) -> R {
    let t = (tensor.dtype == .float32 && tensor.isContiguous)
        ? tensor : withoutGradients { tensor.detached().cast(.float32).contiguous() }
    return withExtendedLifetime(t) {
        body(UnsafePointer(t.storage.pointer.assumingMemoryBound(to: Float.self) + t.offset))
    }
}

/// Per-parameter state: its buffers, update count and value recycler.
final class ParameterSlot {
    let name: String
    let parameter: Parameter
    private(set) var count: Int
    /// The parameter shape the buffers are laid out for.
    private(set) var shape: [Int]
    var step = 0
    var buffers: [String: FloatBuffer]
    private(set) var recycler: ValueRecycler

    init(name: String, parameter: Parameter, bufferNames: [String]) {
        self.name = name
        self.parameter = parameter
        count = parameter.value.count
        shape = parameter.value.shape
        buffers = Dictionary(uniqueKeysWithValues: bufferNames.map { ($0, FloatBuffer(count: parameter.value.count)) })
        recycler = ValueRecycler(byteCount: parameter.value.count * 4)
    }

    func buffer(_ name: String) -> UnsafeMutablePointer<Float> { buffers[name]!.pointer }

    /// Resizes the buffers when the parameter's value changed shape: old entries keep their
    /// multi-index (the old shape is the leading corner of the new one); new entries start at zero.
    /// A shape that does not contain the old one (a shrink, another rank) starts from zeros.
    func followParameterShape() {
        let newShape = parameter.value.shape
        guard newShape != shape else { return }
        let newCount = newShape.reduce(1, *)
        let embeds = newShape.count == shape.count && zip(shape, newShape).allSatisfy { $0 <= $1 }
        for (name, old) in buffers {
            let fresh = FloatBuffer(count: newCount)
            if embeds && count > 0 {
                // Row-major strides of both shapes; copy each old element to the same multi-index.
                var newStrides = [Int](repeating: 1, count: newShape.count)
                for i in stride(from: newShape.count - 2, through: 0, by: -1) { newStrides[i] = newStrides[i + 1] * newShape[i + 1] }
                var index = [Int](repeating: 0, count: shape.count)
                for flat in 0..<count {
                    var target = 0
                    for d in 0..<index.count { target += index[d] * newStrides[d] }
                    fresh.pointer[target] = old.pointer[flat]
                    var d = index.count - 1
                    while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
                }
            }
            buffers[name] = fresh
        }
        count = newCount
        shape = newShape
        recycler = ValueRecycler(byteCount: newCount * 4)
    }
}

/// The parts every optimizer shares: groups, slots, step counting, state save/load, the step driver.
struct OptimizerCore {
    let kind: String
    let groups: [ParameterGroup]
    let slots: [[ParameterSlot]]
    var stepCount = 0

    init(kind: String, groups: [ParameterGroup], bufferNames: [String]) {
        self.kind = kind
        self.groups = groups
        var seen = Set<String>()
        slots = groups.map { g in
            g.parameters.map { named in
                precondition(seen.insert(named.name).inserted, "\(kind): parameter name \(named.name) appears twice")
                return ParameterSlot(name: named.name, parameter: named.parameter, bufferNames: bufferNames)
            }
        }
    }

    func state() -> OptimizerState {
        var out: [String: OptimizerState.ParameterState] = [:]
        for s in slots.joined() {
            out[s.name] = .init(step: s.step, buffers: s.buffers.mapValues { $0.array })
        }
        return OptimizerState(kind: kind, stepCount: stepCount, parameters: out)
    }

    mutating func load(_ state: OptimizerState) throws {
        guard state.kind == kind else { throw OptimizerError.kindMismatch(expected: kind, actual: state.kind) }
        for s in slots.joined() { s.followParameterShape() }
        let names = Set(slots.joined().map { $0.name })
        let missing = names.subtracting(state.parameters.keys).sorted()
        let unexpected = Set(state.parameters.keys).subtracting(names).sorted()
        guard missing.isEmpty, unexpected.isEmpty else {
            throw OptimizerError.parameterMismatch(missing: missing, unexpected: unexpected)
        }
        for s in slots.joined() {
            let saved = state.parameters[s.name]!
            let extra = Set(saved.buffers.keys).subtracting(s.buffers.keys).sorted()
            guard extra.isEmpty else {
                throw OptimizerError.parameterMismatch(missing: [], unexpected: extra.map { "\(s.name).\($0)" })
            }
            for (b, buf) in s.buffers {
                guard let values = saved.buffers[b] else {
                    throw OptimizerError.parameterMismatch(missing: ["\(s.name).\(b)"], unexpected: [])
                }
                guard values.count == buf.count else {
                    throw OptimizerError.bufferSizeMismatch(parameter: s.name, buffer: b, expected: buf.count,
                                                            actual: values.count)
                }
            }
        }
        for s in slots.joined() {
            let saved = state.parameters[s.name]!
            s.step = saved.step
            for (b, buf) in s.buffers { buf.assign(saved.buffers[b]!) }
        }
        stepCount = state.stepCount
    }

    /// Runs `update` for every parameter with a gradient, after counting its step, and installs the new
    /// value. `update(slot, group, lr, p, g, out, range)` must write `out[range]` from `p[range]`, `g[range]`
    /// and the slot's buffers, and is called once per chunk.
    mutating func step(gradients: Gradients, learningRate: Double,
                       update: (ParameterSlot, ParameterGroup, Double, UnsafePointer<Float>, UnsafePointer<Float>,
                                UnsafeMutablePointer<Float>, Range<Int>) -> Void) {
        stepCount += 1
        for (group, groupSlots) in zip(groups, slots) {
            let lr = learningRate * group.learningRateMultiplier
            for slot in groupSlots {
                slot.followParameterShape()
                let value = slot.parameter.value
                guard let grad = gradients[value] else { continue }
                precondition(value.count == slot.count && grad.count == slot.count,
                             "\(kind): \(slot.name) has \(value.count) elements and a gradient of \(grad.count); the optimizer was built for \(slot.count)")
                slot.step += 1
                let memory = RecycledMemory(slot.recycler)
                let out = memory.pointer.bindMemory(to: Float.self, capacity: max(slot.count, 1))
                withFloat32Elements(value) { p in
                    withFloat32Elements(grad) { g in
                        let ptrs = SendableBox((p, g, out))
                        forEachChunk(slot.count) { range in
                            update(slot, group, lr, ptrs.value.0, ptrs.value.1, ptrs.value.2, range)
                        }
                    }
                }
                let storage = Storage(borrowing: memory.pointer, byteCount: slot.count * 4, owner: memory)
                // The storage is sized exactly for the shape, so this cannot fail.
                let updated = try! Tensor(storage: storage, byteOffset: 0, shape: value.shape, dtype: .float32)
                slot.parameter.value = value.dtype == .float32 ? updated : withoutGradients { updated.cast(value.dtype) }
            }
        }
    }
}
