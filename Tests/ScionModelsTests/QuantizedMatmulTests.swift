// QuantizedMatrix.matmulTransposed (fused decode kernel for small N, dequantize-tile + GEMM for
// large N) against dequantize-then-matmul, for Q8_0, Q4_0 and Q4_1, odd row counts and N = 1, 3, 64.

import Foundation
import Testing
import ScionCheckpoint
import ScionNN
import ScionTensor
import ScionTestSupport

@Suite struct QuantizedMatmulTests {
    static func matrix(_ format: QuantizationFormat, rows: Int, columns: Int, seed: UInt64) throws -> QuantizedMatrix {
        var g = RandomGenerator(seed: seed)
        let values = Tensor.normal([rows * columns], generator: &g).floats()
        let type: GGMLType = format == .q8_0 ? .q8_0 : format == .q4_0 ? .q4_0 : .q4_1
        let bytes = GGMLQuantization.quantize(values, as: type)
        let storage = Storage(byteCount: bytes.count)
        bytes.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return try QuantizedMatrix(format: format, rows: rows, columns: columns, storage: storage, byteOffset: 0)
    }

    static let cases: [(QuantizationFormat, Int)] = QuantizationFormat.allCases.flatMap { f in [1, 3, 4, 5, 64].map { (f, $0) } }

    @Test(arguments: cases) func matchesDequantizedReference(format: QuantizationFormat, n: Int) throws {
        for (rows, columns) in [(37, 96), (130, 64), (1, 32)] {
            let q = try Self.matrix(format, rows: rows, columns: columns, seed: UInt64(rows * 31 + n))
            var g = RandomGenerator(seed: UInt64(n))
            let x = Tensor.normal([n, columns], generator: &g)
            let got = q.matmulTransposed(x)
            let want = x.matmul(q.dequantized().matrixTransposed)
            #expect(got.shape == [n, rows])
            // Same products summed in another order: float32 rounding of a length-`columns` dot product.
            // One row (decoding, x86-64) goes through the int16 kernel: x is rounded per block of 32 to
            // steps of s = max|x_b|/32767, so each term may also be off by |w|·s/2.
            let (gv, w, xs, wd) = (got.floats(), want.floats(), x.floats(), q.dequantized().floats())
            for i in 0..<n {
                for r in 0..<rows {
                    var bound: Float = 2e-4
                    if n == 1 {
                        for b in 0..<(columns / 32) {
                            let amax = (0..<32).reduce(Float(0)) { max($0, abs(xs[i * columns + b * 32 + $1])) }
                            let wsum = (0..<32).reduce(Float(0)) { $0 + abs(wd[r * columns + b * 32 + $1]) }
                            bound += amax / 65534 * wsum * 1.01
                        }
                    }
                    let d = abs(gv[i * rows + r] - w[i * rows + r])
                    #expect(d <= bound, "\(format) [\(rows), \(columns)] N=\(n) row \(r): |Δ| \(d) > \(bound)")
                }
            }
        }
    }

    @Test func resultsDoNotDependOnThreadCount() throws {
        let q = try Self.matrix(.q4_1, rows: 301, columns: 128, seed: 5)
        var g = RandomGenerator(seed: 9)
        let x = Tensor.normal([2, 128], generator: &g)
        let saved = ComputeSettings.threadCount
        defer { ComputeSettings.threadCount = saved }
        ComputeSettings.threadCount = 1
        let one = q.matmulTransposed(x).floats()
        ComputeSettings.threadCount = 2
        #expect(q.matmulTransposed(x).floats() == one)
    }

    /// The AVX-512 form of the one-row integer kernel (CScionKernels) against the SSE2 form: the same
    /// exact int32 block sums, so only the float accumulation order differs. Odd row counts exercise
    /// the single-row tail; 1, 2 and 3 threads give the same bits (each row is one thread's, in order).
    @Test(.enabled(if: QuantizedMatrix.wideKernelAvailable), arguments: QuantizationFormat.allCases)
    func wideIntegerKernelMatchesPortableOne(format: QuantizationFormat) throws {
        for (rows, columns) in [(37, 96), (130, 576), (1, 32)] {
            let q = try Self.matrix(format, rows: rows, columns: columns, seed: UInt64(rows + columns))
            var g = RandomGenerator(seed: 3)
            let x = Tensor.normal([1, columns], generator: &g)
            let saved = QuantizedMatrix.usesWideKernel
            defer { QuantizedMatrix.usesWideKernel = saved }
            QuantizedMatrix.usesWideKernel = false
            let portable = q.matmulTransposed(x).floats()
            QuantizedMatrix.usesWideKernel = true
            let wide = [1, 2, 3].map { t in withThreadCount(t) { q.matmulTransposed(x).floats() } }
            #expect(wide[1] == wide[0] && wide[2] == wide[0], "\(format) [\(rows), \(columns)]: thread count changed the bits")
            let (xs, wd) = (x.floats(), q.dequantized().floats())
            for r in 0..<rows {
                // Float rounding of the per-block products summed in another order.
                let scale = (0..<columns).reduce(Float(0)) { $0 + abs(wd[r * columns + $1] * xs[$1]) }
                let d = abs(wide[0][r] - portable[r])
                #expect(d <= 1e-5 * scale + 1e-6, "\(format) [\(rows), \(columns)] row \(r): |Δ| \(d)")
            }
        }
    }

    /// A NaN or an infinity in x cannot be quantized to int16: one-row products fall back to the float
    /// kernel, so the non-finite value reaches every output instead of being rounded away.
    @Test(arguments: QuantizationFormat.allCases) func nonFiniteInputPropagates(format: QuantizationFormat) throws {
        let q = try Self.matrix(format, rows: 5, columns: 64, seed: 2)
        for bad in [Float.nan, .infinity, -.infinity] {
            var values = [Float](repeating: 0.5, count: 64)
            values[40] = bad
            let y = q.matmulTransposed(Tensor(values, shape: [1, 64])).floats()
            // Not finite in every row (±∞, or NaN where the kernel's split d·q·x + m·Σx meets ∞ − ∞).
            for r in 0..<5 {
                #expect(!y[r].isFinite, "\(format) x[40] = \(bad), row \(r): \(y[r])")
                if bad.isNaN { #expect(y[r].isNaN) }
            }
        }
    }

    @Test func rowPermutationStaysQuantizedAndExact() throws {
        let q = try Self.matrix(.q4_0, rows: 8, columns: 64, seed: 3)
        let order = [3, 1, 7, 0, 2, 6, 5, 4]
        let p = q.rowsPermuted(order)
        #expect(p.format == .q4_0 && p.byteCount == q.byteCount)
        let a = q.dequantized().floats(), b = p.dequantized().floats()
        for (i, r) in order.enumerated() { #expect(Array(b[(i * 64)..<(i * 64 + 64)]) == Array(a[(r * 64)..<(r * 64 + 64)])) }
    }
}
