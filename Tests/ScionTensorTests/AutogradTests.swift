// The tape: gradient accumulation when a tensor is used more than once, withoutGradients,
// detached, backward() returning leaf gradients, gradients(of:) for unreachable inputs, seeds,
// and gradient checkpointing giving the same gradients as the plain function (captured parameters
// included).

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

struct AutogradTests {
    let tol = Tolerance.for(dtype: .float64, op: .accumulation)

    @Test func accumulatesWhenATensorIsUsedTwice() {
        let x = Tensor(doubles: [1, -2, 3], shape: [3]).requiringGradient()
        // y = x·x + x + sin(x) reaches x through four edges.
        let g = (x * x + x + x.sin()).sum().gradients(of: [x])[0]
        expectOK(compare(g, RefTensor(shape: [3], data: [1, -2, 3].map { 2 * $0 + 1 + _cos($0) }), tol))
        // A diamond: two paths through one intermediate.
        let h = x.exp()
        let g2 = (h * 2 + h.squared()).sum().gradients(of: [x])[0]
        expectOK(compare(g2, RefTensor(shape: [3], data: [1, -2, 3].map { 2 * _exp($0) + 2 * _exp(2 * $0) }), tol))
    }

    @Test func withoutGradientsRecordsNothing() {
        let x = Tensor(doubles: [1, 2], shape: [2]).requiringGradient()
        let y = withoutGradients { (x * 3).exp() }
        #expect(!y.requiresGradient)
        #expect(GradientMode.enabled)
        #expect(withoutGradients { GradientMode.enabled } == false)
        #expect((x * 3).requiresGradient)
    }

    @Test func detachedStopsGradients() {
        let x = Tensor(doubles: [1, 2], shape: [2]).requiringGradient()
        let y = (x * x.detached()).sum()
        // d/dx (x · c) = c, not 2x.
        #expect(y.gradients(of: [x])[0].doubles() == [1, 2])
        #expect(!x.detached().requiresGradient)
        #expect(x.detached().storage === x.storage)
    }

    @Test func backwardReturnsLeafGradients() {
        let a = Tensor(doubles: [1, 2, 3, 4], shape: [2, 2]).requiringGradient()
        let b = Tensor(doubles: [0.5, -1], shape: [2]).requiringGradient()
        let c = Tensor(doubles: [7], shape: [1])                 // a constant: no gradient
        let grads = ((a * b).sum(axes: [1]) + c).sum().backward()
        #expect(grads.count == 2)
        #expect(grads[a]?.doubles() == [0.5, -1, 0.5, -1])
        #expect(grads[b]?.doubles() == [4, 6])
        #expect(grads[c] == nil)
        // Intermediates are not kept.
        let h = a * 2
        #expect(h.sum().backward()[h] == nil)
    }

    @Test func unreachableInputsGetZeros() {
        let x = Tensor(doubles: [1, 2], shape: [2]).requiringGradient()
        let unused = Tensor(doubles: [1, 2, 3], shape: [3, 1]).requiringGradient()
        let constant = Tensor(doubles: [5], shape: [1])
        let g = (x * 2).sum().gradients(of: [x, unused, constant])
        #expect(g[0].doubles() == [2, 2])
        #expect(g[1].shape == [3, 1] && g[1].doubles() == [0, 0, 0])
        #expect(g[2].shape == [1] && g[2].doubles() == [0])
    }

    @Test func gradientsOfIntermediatesAndSeeds() {
        let x = Tensor(doubles: [1, 2], shape: [2]).requiringGradient()
        let h = x * 3
        let y = h.squared()
        let g = y.gradients(of: [h, x], seed: Tensor(doubles: [1, 10], shape: [2]))
        #expect(g[0].doubles() == [6, 120])                     // 2h · seed
        #expect(g[1].doubles() == [18, 360])                    // 2h · 3 · seed
    }

    @Test func valueAndGradientsHelper() {
        let (v, g) = valueAndGradients(at: [Tensor(doubles: [3], shape: [1])]) { ($0[0].pow(3)).sum() }
        #expect(v.item() == 27 && g[0].doubles() == [27])
        #expect(!v.requiresGradient)
    }

    @Test func checkpointedMatchesPlainFunction() {
        var rng = TestRandom(seed: 60)
        let x = makeTensor(rng.ref([3, 4])).requiringGradient()
        let w1 = makeTensor(rng.ref([4, 5])).requiringGradient()      // captured parameters
        let w2 = makeTensor(rng.ref([5])).requiringGradient()
        let other = makeTensor(rng.ref([3, 5])).requiringGradient()   // a second explicit input
        let block: @Sendable ([Tensor]) -> Tensor = { xs in
            ((xs[0].matmul(w1) + w2).tanh() * xs[1]).gelu().layerNorm(weight: nil, bias: nil)
        }
        let wOut = makeTensor(rng.ref([3, 5]))
        let plain = (block([x, other]) * wOut).sum()
        let ckpt = (Tensor.checkpointed([x, other], block) * wOut).sum()
        expectOK(compare(ckpt, plain, .exact, label: "checkpointed forward"))
        let gp = plain.gradients(of: [x, other, w1, w2]), gc = ckpt.gradients(of: [x, other, w1, w2])
        for i in 0..<4 { expectOK(compare(gc[i], gp[i], tol, label: "checkpointed gradients(of:) input \(i)")) }
        // backward() must also return the captured parameters' gradients.
        let bp = plain.backward(), bc = ckpt.backward()
        for (i, t) in [x, other, w1, w2].enumerated() {
            #expect(bc[t] != nil, "checkpointed backward() lost the gradient of leaf \(i)")
            if let a = bc[t], let b = bp[t] { expectOK(compare(a, b, tol, label: "checkpointed backward() leaf \(i)")) }
        }
        #expect(bc.count == bp.count)
    }

    @Test func checkpointedUsedTwiceAccumulates() {
        let x = Tensor(doubles: [0.3, -0.7], shape: [2]).requiringGradient()
        let f: @Sendable ([Tensor]) -> Tensor = { $0[0].sin() * 2 }
        let y = (Tensor.checkpointed([x], f) + Tensor.checkpointed([x], f).squared()).sum()
        let yPlain = (f([x]) + f([x]).squared()).sum()
        expectOK(compare(y.gradients(of: [x])[0], yPlain.gradients(of: [x])[0], tol))
    }

    @Test func checkpointedWithoutGradientsRecordsNothing() {
        let x = Tensor(doubles: [1], shape: [1]).requiringGradient()
        let y = withoutGradients { Tensor.checkpointed([x]) { $0[0] * 2 } }
        #expect(!y.requiresGradient)
    }

    /// Gradients are keyed by node identity; a leaf freed after backward must not lend its identity
    /// (a reused address) to a new leaf that then sees the old gradient.
    @Test func gradientsNeverMatchANewTensorAfterTheOldOneIsGone() {
        var grads = Gradients()
        do {
            let x = Tensor(doubles: [1, 2, 3], shape: [3]).requiringGradient()
            grads = (x * 2).sum().backward()
            #expect(grads[x] != nil)
        }
        var stored = Gradients()
        do {
            let y = Tensor(doubles: [4], shape: [1]).requiringGradient()
            stored[y] = Tensor(doubles: [1], shape: [1])
        }
        for _ in 0..<2_000 {
            let fresh = Tensor(doubles: [0, 0, 0], shape: [3]).requiringGradient()
            #expect(grads[fresh] == nil)
            #expect(stored[fresh] == nil)
        }
        #expect(grads.count == 1 && stored.count == 1)
    }
}

private func _cos(_ x: Double) -> Double { x.isFinite ? Foundation.cos(x) : .nan }
private func _exp(_ x: Double) -> Double { Foundation.exp(x) }
