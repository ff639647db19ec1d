// Views and data movement: reshape, permute/transpose, expand, strided slice, concat, stack,
// split, pad, contiguous and squeeze, forward against the reference (exactly: no arithmetic) and
// backward by finite differences, in every layout. Plus the view algebra properties.

import ScionTensor
import ScionTestSupport
import Testing

struct ShapeTests {
    @Test(arguments: TestLayout.allCases)
    func reshape(layout: TestLayout) {
        for (s, t) in [([2, 3, 4], [6, 4]), ([2, 3, 4], [4, -1]), ([6], [1, 6, 1]), ([], [1, 1]), ([0, 3], [3, 0]),
                       ([3, 1, 2], [6])] {
            let resolved = t.contains(-1) ? t.map { $0 == -1 ? s.reduce(1, *) / t.filter { $0 != -1 }.reduce(1, *) : $0 } : t
            checkOp("reshape \(t)", [s], layout: layout, op: .movement, { $0[0].reshaped(t) }, { $0[0].reshaped(resolved) })
        }
        checkOp("flattened", [[2, 3, 4]], layout: layout, op: .movement, { $0[0].flattened(from: 1) }, { $0[0].reshaped([2, 12]) })
        checkOp("unsqueezed", [[2, 3]], layout: layout, op: .movement, { $0[0].unsqueezed(-1) }, { $0[0].reshaped([2, 3, 1]) })
        checkOp("squeezed", [[2, 1, 3, 1]], layout: layout, op: .movement, { $0[0].squeezed() }, { $0[0].reshaped([2, 3]) })
    }

    @Test(arguments: TestLayout.allCases)
    func permute(layout: TestLayout) {
        for (s, p) in [([3, 4], [1, 0]), ([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [0, 2, 1]), ([2, 1, 3, 2], [3, 1, 0, 2]),
                       ([0, 3], [1, 0])] {
            checkOp("permute \(p)", [s], layout: layout, op: .movement, { $0[0].permuted(p) }, { $0[0].permuted(p) })
        }
        checkOp("transposed", [[2, 3, 4]], layout: layout, op: .movement, { $0[0].transposed(0, 2) }, { $0[0].permuted([2, 1, 0]) })
        checkOp("matrixTransposed", [[2, 3, 4]], layout: layout, op: .movement, { $0[0].matrixTransposed },
                { $0[0].permuted([0, 2, 1]) })
    }

    @Test(arguments: TestLayout.allCases)
    func expand(layout: TestLayout) {
        for (s, t) in [([1, 4], [3, 4]), ([3, 1], [3, 5]), ([4], [2, 3, 4]), ([], [2, 2]), ([2, 1, 1], [2, 3, 4]),
                       ([1, 3], [0, 3])] {
            checkOp("expand \(t)", [s], layout: layout, op: .movement, { $0[0].expanded(to: t) }, { $0[0].expanded(t) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func slice(layout: TestLayout) {
        let cases: [([Int], [(Int, Int, Int)])] = [
            ([6], [(1, 5, 1)]), ([7], [(0, 7, 2)]), ([7], [(1, 7, 3)]), ([4, 5], [(1, 3, 1), (0, 5, 2)]),
            ([3, 4, 5], [(0, 3, 2), (1, 4, 1), (4, 5, 1)]), ([4, 5], [(2, 2, 1), (0, 5, 1)]), ([5], [(4, 5, 4)]),
        ]
        for (s, r) in cases {
            let ranges = r.map { SliceRange($0.0, $0.1, step: $0.2) }
            checkOp("slice \(r)", [s], layout: layout, op: .movement, { $0[0].sliced(ranges) }, { $0[0].sliced(r) })
        }
        // Missing trailing axes are taken whole; the axis form; selecting removes the axis.
        checkOp("slice prefix", [[3, 4]], layout: layout, op: .movement, { $0[0].sliced([SliceRange(1, 3)]) },
                { $0[0].sliced([(1, 3, 1), (0, 4, 1)]) })
        checkOp("slice axis", [[3, 6]], layout: layout, op: .movement, { $0[0].sliced(axis: -1, 1..<6, step: 2) },
                { $0[0].sliced([(0, 3, 1), (1, 6, 2)]) })
        checkOp("selecting", [[3, 4]], layout: layout, op: .movement, { $0[0].selecting(axis: 1, index: 2) },
                { $0[0].sliced([(0, 3, 1), (2, 3, 1)]).reshaped([3]) })
    }

    @Test(arguments: TestLayout.allCases)
    func concatStackSplit(layout: TestLayout) {
        checkOp("concat 0", [[2, 3], [4, 3], [1, 3]], layout: layout, op: .movement,
                { Tensor.concat($0, axis: 0) }, { RefTensor.concat($0, axis: 0) })
        checkOp("concat -1", [[2, 3], [2, 1], [2, 0]], layout: layout, op: .movement,
                { Tensor.concat($0, axis: -1) }, { RefTensor.concat($0, axis: -1) })
        checkOp("concat 1 rank 3", [[2, 3, 2], [2, 2, 2]], layout: layout, op: .movement,
                { Tensor.concat($0, axis: 1) }, { RefTensor.concat($0, axis: 1) })
        for axis in [0, 1, 2, -1] {
            checkOp("stack \(axis)", [[2, 3], [2, 3], [2, 3]], layout: layout, op: .movement,
                    { Tensor.stack($0, axis: axis) },
                    { xs in
                        let a = axis < 0 ? axis + 3 : axis
                        return RefTensor.concat(xs.map { x in
                            var s = x.shape; s.insert(1, at: a); return x.reshaped(s)
                        }, axis: a)
                    })
        }
        // split: each piece is checked by concatenating the pieces back with distinct scales.
        checkOp("split", [[3, 7]], layout: layout, op: .movement,
                { x in
                    let parts = x[0].split(sizes: [2, 0, 4, 1], axis: 1)
                    #expect(parts.map(\.shape) == [[3, 2], [3, 0], [3, 4], [3, 1]])
                    return Tensor.concat([parts[3], parts[2], parts[0]], axis: 1)
                },
                { x in
                    RefTensor.concat([x[0].sliced([(0, 3, 1), (6, 7, 1)]), x[0].sliced([(0, 3, 1), (2, 6, 1)]),
                                      x[0].sliced([(0, 3, 1), (0, 2, 1)])], axis: 1)
                })
        checkOp("chunked", [[6, 2]], layout: layout, op: .movement, { $0[0].chunked(3, axis: 0)[1] },
                { $0[0].sliced([(2, 4, 1), (0, 2, 1)]) })
    }

    @Test(arguments: TestLayout.allCases)
    func pad(layout: TestLayout) {
        for (s, p) in [([3], [(1, 2)]), ([2, 3], [(0, 1), (2, 0)]), ([2, 3, 2], [(1, 1)]), ([0, 2], [(1, 0), (1, 1)])] {
            let full = s.indices.map { $0 < p.count ? p[$0] : (0, 0) }
            checkOp("pad \(p)", [s], layout: layout, op: .movement, { $0[0].padded(p, value: -1.5) },
                    { $0[0].padded(full, value: -1.5) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func contiguous(layout: TestLayout) {
        for s in unaryShapes {
            checkOp("contiguous", [s], layout: layout, op: .movement, { x in
                let c = x[0].contiguous()
                #expect(c.isContiguous)
                return c
            }, { $0[0] })
        }
        // Expanded (stride-0) views become real copies.
        checkOp("contiguous expanded", [[3, 1]], layout: layout, op: .movement,
                { $0[0].expanded(to: [3, 4]).contiguous() }, { $0[0].expanded([3, 4]) })
    }

    @Test func viewsShareStorage() {
        let x = Tensor(doubles: (0..<24).map(Double.init), shape: [2, 3, 4])
        #expect(x.permuted(2, 0, 1).storage === x.storage)
        #expect(x.sliced(axis: 1, 1..<3).storage === x.storage)
        #expect(x.reshaped(6, 4).storage === x.storage)
        #expect(x.sliced(axis: 0, 0..<1).expanded(to: [5, 3, 4]).storage === x.storage)
        #expect(!x.permuted(2, 0, 1).isContiguous)
    }

    @Test func viewAlgebraProperties() {
        var rng = TestRandom(seed: 1234)
        for _ in 0..<20 {
            let shape = rng.shape(rank: rng.int(1...4))
            let x = makeTensor(rng.ref(shape), layout: TestLayout.allCases[rng.int(0...2)])
            // reshape then reshape back is the identity.
            expectOK(compare(x.reshaped([-1]).reshaped(shape), x, .exact, label: "reshape inverse \(shape) seed \(rng.seed)"))
            // permute by p then by p⁻¹ is the identity.
            var p = Array(0..<shape.count)
            for i in stride(from: p.count - 1, to: 0, by: -1) { p.swapAt(i, rng.int(0...i)) }
            var inverse = p
            for (i, a) in p.enumerated() { inverse[a] = i }
            expectOK(compare(x.permuted(p).permuted(inverse), x, .exact, label: "permute inverse \(p)"))
            // Broadcasting: a + b == expand(a) + expand(b).
            let other = shape.map { rng.int(0...1) == 0 ? 1 : $0 }
            let y = makeTensor(rng.ref(other))
            expectOK(compare(x + y, x.contiguous() + y.expanded(to: shape).contiguous(), .exact,
                             label: "broadcast \(shape) + \(other)"))
            #expect(Tensor.broadcastShape(shape, other) == shape)
        }
    }
}
