// scion-bench: Scion's benchmarks, never run by `swift test`. Each benchmark runs Scion and a
// reference side by side in one invocation and prints ratios (medians of several runs):
//   gemm       Tensor.matmul vs calling cblas_sgemm directly, transformer shapes and backward shapes
//   attention  fused vs composite attention, forward+backward: time and peak tensor memory
//   kernels    softmax, layer norm, GELU, cross-entropy over a 50257 vocabulary: GB/s vs memcpy
//   decode     a GPT-2-124M-shaped fp32 decode step; attention on a KV-cache view vs a copy
//   tokenizers encode MB/s of each tokenizer family vs HF `tokenizers` (TokenizerBench.swift)
//   train      GPT-2 124M training step vs PyTorch (default and fused AdamW) (TrainBench.swift)
//   safetensors load time of a ~500 MB file: mmap, page touch, full read vs read() and Python (SafetensorsBench.swift)
//   learngene  gene-initialized vs random-init models of 4/6/8 layers on English text (LearngeneBench.swift)
//   growth     G_stack and bert2BERT FPI/AKI growth vs from scratch, FLOPs to a loss (GrowthBench.swift)
//   vocab      vocabulary-growth initialisers on new-language text (VocabBench.swift)
//   adapters   every adapter method and full fine-tuning on SmolLM2-135M vs PEFT LoRA (AdapterBench.swift)
// Usage: swift run -c release scion-bench [gemm|attention|kernels|decode|train|tokenizers|safetensors|learngene|growth|vocab|adapters|all]
//            [--threads N] [--runs N] [--python PATH] [--text FILE]

import Foundation
import ScionTensor
#if canImport(Glibc)
import Glibc
#endif

/// Parsed command line.
struct BenchOptions {
    var runs = 7
    var threads = [1, 2]
    var which = "all"
    /// Interpreter for the Python references (tokenizers, safetensors).
    var python = "python3"
    /// Text for the tokenizer benchmark (default: corpus.txt repeated to ~2 MB).
    var text: String?
    init(_ arguments: [String]) {
        var rest: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if (a == "--runs" || a == "--threads"), i + 1 < arguments.count, let v = Int(arguments[i + 1]), v > 0 {
                if a == "--runs" { runs = v } else { threads = [v] }
                i += 2
            } else if (a == "--python" || a == "--text"), i + 1 < arguments.count {
                if a == "--python" { python = arguments[i + 1] } else { text = arguments[i + 1] }
                i += 2
            } else { rest.append(a); i += 1 }
        }
        which = rest.first ?? "all"
    }
}
let options = BenchOptions(Array(CommandLine.arguments.dropFirst()))
let runs = options.runs, threadList = options.threads, which = options.which

/// Median wall time of `runs` calls after one warm-up, in seconds.
func median(_ runs: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<runs {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

/// Medians of two bodies timed alternately (A, B, A, B, …) so machine noise hits both alike.
func pairedMedians(_ runs: Int, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
    a(); b()
    var ta: [Double] = [], tb: [Double] = []
    for _ in 0..<runs {
        var t0 = DispatchTime.now().uptimeNanoseconds
        a()
        ta.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        t0 = DispatchTime.now().uptimeNanoseconds
        b()
        tb.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    ta.sort(); tb.sort()
    return (ta[runs / 2], tb[runs / 2])
}

func header(_ s: String) { print("\n## \(s)\n") }

// MARK: GEMM

typealias SGemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
    UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void

func directSgemm() -> SGemm? {
    _ = BLAS.shared                        // loads OpenBLAS with the core type chosen
    guard let path = BLAS.shared.libraryPath, let h = dlopen(path, RTLD_NOW), let s = dlsym(h, "cblas_sgemm") else { return nil }
    return unsafeBitCast(s, to: SGemm.self)
}

/// Extra GEMM shapes from SCION_GEMM_SHAPES, e.g. "128x768x2304,256x768x50257t" (M×K×N; a trailing
/// "t" stores B transposed, "T" stores A transposed), to measure the shapes of a given workload.
func gemmShapesFromEnvironment() -> [(String, Int, Int, Int, Bool, Bool)] {
    let spec = ProcessInfo.processInfo.environment["SCION_GEMM_SHAPES"] ?? ""
    return spec.split(separator: ",").compactMap { item in
        var text = String(item)
        var (ta, tb) = (false, false)
        while let last = text.last, last == "t" || last == "T" {
            if last == "t" { tb = true } else { ta = true }
            text.removeLast()
        }
        let d = text.split(separator: "x").compactMap { Int($0) }
        guard d.count == 3 else { return nil }
        return ("\(d[0])×\(d[1])×\(d[2])\(ta ? " Aᵀ" : "")\(tb ? " Bᵀ" : "")", d[0], d[1], d[2], ta, tb)
    }
}

@MainActor func benchGEMM() {
    header("GEMM: Tensor.matmul vs cblas_sgemm called directly (median of \(runs))")
    print("BLAS: \(BLAS.shared.kind.rawValue), kernel \(BLAS.shared.coreName ?? "n/a")")
    guard let sgemm = directSgemm() else { print("no cblas_sgemm: skipped"); return }
    // (label, M, K, N, transA, transB): forward y = x·W and the two backward GEMMs.
    let shapes: [(String, Int, Int, Int, Bool, Bool)] = [
        ("fwd 512×768×768", 512, 768, 768, false, false),
        ("fwd 512×768×3072", 512, 768, 3072, false, false),
        ("fwd 512×768×50257", 512, 768, 50257, false, false),
        ("bwd dX 512×3072×768 (g·Wᵀ)", 512, 3072, 768, false, true),
        ("bwd dW 768×512×3072 (xᵀ·g)", 768, 512, 3072, true, false),
        ("bwd dX 512×50257×768 (g·Wᵀ)", 512, 50257, 768, false, true),
    ] + gemmShapesFromEnvironment()
    print("| shape | threads | Scion GFLOPS | cblas GFLOPS | ratio |")
    print("|---|---|---|---|---|")
    for t in threadList {
        ComputeSettings.threadCount = t
        for (label, m, k, n, ta, tb) in shapes {
            var g = RandomGenerator(seed: 7)
            // Operands stored as their transposes when the flag is set, exactly as autograd sees them.
            let a = ta ? Tensor.normal([k, m], generator: &g).matrixTransposed : Tensor.normal([m, k], generator: &g)
            let b = tb ? Tensor.normal([n, k], generator: &g).matrixTransposed : Tensor.normal([k, n], generator: &g)
            let ad = ta ? a.matrixTransposed.contiguous() : a, bd = tb ? b.matrixTransposed.contiguous() : b
            let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
            let ap = ad.floats(), bp = bd.floats()
            let (ts, tc) = pairedMedians(runs, { _ = a.matmul(b) }, {
                sgemm(101, ta ? 112 : 111, tb ? 112 : 111, Int32(m), Int32(n), Int32(k), 1, ap, Int32(ta ? m : k),
                      bp, Int32(tb ? k : n), 0, c, Int32(n))
            })
            c.deallocate()
            let flops = 2.0 * Double(m) * Double(n) * Double(k)
            print(String(format: "| %@ | %d | %.1f | %.1f | %.3f |", label, t, flops / ts / 1e9, flops / tc / 1e9, tc / ts))
        }
    }
}

// MARK: Attention

@MainActor func benchAttention() {
    header("Attention forward+backward, B=4 H=12 D=64 (median of \(runs)): fused vs composite")
    print("| T | threads | fused ms | composite ms | speedup | fused peak MB | composite peak MB |")
    print("|---|---|---|---|---|---|---|")
    for t in threadList {
        ComputeSettings.threadCount = t
        for seq in [64, 128, 1024] {
            var g = RandomGenerator(seed: 3)
            let q = Tensor.normal([4, 12, seq, 64], generator: &g), k = Tensor.normal([4, 12, seq, 64], generator: &g)
            let v = Tensor.normal([4, 12, seq, 64], generator: &g), w = Tensor.normal([4, 12, seq, 64], generator: &g)
            func run(_ fused: Bool) {
                _ = valueAndGradients(at: [q, k, v]) { x in
                    let o = fused
                        ? Tensor.scaledDotProductAttention(query: x[0], key: x[1], value: x[2], causal: true)
                        : Tensor.scaledDotProductAttentionComposite(query: x[0], key: x[1], value: x[2], causal: true)
                    return (o * w).sum()
                }
            }
            func peakMB(_ fused: Bool) -> Double {
                MemoryStats.resetPeak()
                let base = MemoryStats.liveBytes
                run(fused)
                return Double(MemoryStats.peakBytes - base) / 1e6
            }
            let r = seq >= 1024 ? 3 : runs
            let fusedMs = median(r) { run(true) } * 1000, compMs = median(r) { run(false) } * 1000
            let fusedPeak = peakMB(true), compPeak = peakMB(false)
            print(String(format: "| %d | %d | %.1f | %.1f | %.2f× | %.1f | %.1f |", seq, t, fusedMs, compMs, compMs / fusedMs,
                         fusedPeak, compPeak))
        }
    }
}

// MARK: Bandwidth-bound kernels

@MainActor func benchKernels() {
    header("Fused kernels over [512, 50257] (softmax, cross-entropy) and [512·4, 768] / [512, 3072] (median of \(runs))")
    print("| kernel | threads | ms | GB/s (read+write) | memcpy GB/s | ratio to memcpy |")
    print("|---|---|---|---|---|---|")
    for t in threadList {
        ComputeSettings.threadCount = t
        var g = RandomGenerator(seed: 5)
        let logits = Tensor.normal([512, 50257], generator: &g)
        let targets = Tensor(indices: (0..<512).map { ($0 * 7919) % 50257 })
        let hidden = Tensor.normal([2048, 768], generator: &g)
        let lnW = Tensor.ones([768]), lnB = Tensor.zeros([768])
        let ffn = Tensor.normal([512, 3072], generator: &g)
        // memcpy of the same number of bytes a kernel reads + writes.
        func memcpyGBs(_ bytes: Int) -> Double {
            let src = UnsafeMutableRawPointer.allocate(byteCount: bytes / 2, alignment: 64)
            let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes / 2, alignment: 64)
            src.initializeMemory(as: UInt8.self, repeating: 1, count: bytes / 2)
            let tm = median(runs) { memcpy(dst, src, bytes / 2) }
            src.deallocate(); dst.deallocate()
            return Double(bytes) / tm / 1e9
        }
        let cases: [(String, Int, () -> Void)] = [
            ("softmax 512×50257", logits.count * 8, { _ = logits.softmax() }),
            ("cross-entropy fwd 512×50257", logits.count * 4, { _ = logits.crossEntropy(targets: targets) }),
            ("cross-entropy fwd+bwd 512×50257", logits.count * 12, {
                _ = valueAndGradients(at: [logits]) { $0[0].crossEntropy(targets: targets) } }),
            ("layer norm 2048×768", hidden.count * 8, { _ = hidden.layerNorm(weight: lnW, bias: lnB) }),
            ("GELU tanh 512×3072", ffn.count * 8, { _ = ffn.gelu(approximation: .tanh) }),
        ]
        for (label, bytes, body) in cases {
            let tm = median(runs, body)
            let gbs = Double(bytes) / tm / 1e9, mc = memcpyGBs(bytes)
            print(String(format: "| %@ | %d | %.2f | %.2f | %.2f | %.2f |", label, t, tm * 1000, gbs, mc, gbs / mc))
        }
    }
}

print("# scion-bench (\(BLAS.shared.kind.rawValue) \(BLAS.shared.coreName ?? ""), runs \(runs))")
switch which {
case "gemm": benchGEMM()
case "attention": benchAttention()
case "kernels": benchKernels()
case "decode": benchDecode()
case "train": benchTrain()
case "inference": benchInference()
case "adapters": benchAdapters()
case "tokenizers": benchTokenizers()
case "safetensors": benchSafetensors()
case "vocab": benchVocab()
case "learngene": benchLearngene()
case "growth": benchGrowth()
case "all": benchGEMM(); benchAttention(); benchKernels(); benchTokenizers(); benchSafetensors()
default:
    FileHandle.standardError.write(Data(("usage: scion-bench [gemm|attention|kernels|decode|train|inference|tokenizers|safetensors|learngene|all] "
        + "[--threads N] [--runs N] [--python PATH] [--text FILE]\n"
        + "       scion-bench learngene [--teacher-steps N] [--gene-steps N] [--steps N] [--method tleg|sws] [--text FILE]\n").utf8))
    exit(2)
}
