// `scion doctor`: what Scion runs on — version, BLAS backend and the kernel it actually uses,
// threads, CPU features, LAPACK availability. Wraps `BLAS.shared`, `CPUInfo` and `ComputeSettings`.

import ArgumentParser
import Foundation
import ScionNN
import ScionTensor

enum ScionVersionInfo { static let string = ScionVersion.string }

/// The facts `scion doctor` reports.
struct DoctorReport: Codable {
    var version: String
    var blasBackend: String
    var blasLibrary: String?
    var blasKernel: String?
    var coreTypeChosenByScion: String?
    var coreTypeSetByUser: Bool
    var blasConfiguration: String?
    var lapackAvailable: Bool
    var threads: Int
    /// Who splits GEMMs over the threads ("scion" or "blas", SCION_GEMM_THREADING).
    var gemmThreading: String
    /// The one-row quantized matmul kernel decoding uses ("AVX-512" or "SSE2" on x86-64).
    var quantizedDecodeKernel: String
    var cpuModel: String?
    var cpuFeatures: [String]
    var gemmGFLOPS: Double?

    static func collect(measure: Bool) -> DoctorReport {
        let blas = BLAS.shared
        let interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                           "avx512_fp16", "amx_tile", "amx_bf16", "neon", "asimd"]
        var gflops: Double? = nil
        if measure {
            // One 512×768×768 GEMM, best of 5: a sanity check that the fast kernel runs.
            var g = RandomGenerator(seed: 1)
            let a = Tensor.normal([512, 768], generator: &g), b = Tensor.normal([768, 768], generator: &g)
            var best = Double.infinity
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = a.matmul(b)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            gflops = 2 * 512 * 768 * 768 / best / 1e9
        }
        return DoctorReport(
            version: ScionVersion.string, blasBackend: blas.kind.rawValue, blasLibrary: blas.libraryPath,
            blasKernel: blas.coreName, coreTypeChosenByScion: blas.chosenCoreType, coreTypeSetByUser: blas.coreTypeFromUser,
            blasConfiguration: blas.configuration, lapackAvailable: blas.hasLAPACK, threads: ComputeSettings.threadCount,
            gemmThreading: ComputeSettings.gemmThreading.rawValue,
            quantizedDecodeKernel: QuantizedMatrix.wideKernelAvailable ? "AVX-512" : "portable (SSE2 on x86-64)",
            cpuModel: CPUInfo.modelName, cpuFeatures: interesting.filter { CPUInfo.flags.contains($0) }, gemmGFLOPS: gflops)
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Report the BLAS backend and kernel, threads, CPU features and LAPACK.")

    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Skip the quick GEMM speed check.") var noMeasure = false
    @Option(help: "Threads for kernels and BLAS (default: all cores).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        if let threads { ComputeSettings.threadCount = threads }
        let r = DoctorReport.collect(measure: !noMeasure)
        if json { try printJSON(r); return }
        print("Scion \(r.version)")
        print("BLAS backend:   \(r.blasBackend)\(r.blasLibrary.map { " (\($0))" } ?? "")")
        if let k = r.blasKernel {
            let why = r.coreTypeSetByUser ? "set by OPENBLAS_CORETYPE" : (r.coreTypeChosenByScion != nil ? "chosen by Scion from CPU features" : "detected by OpenBLAS")
            print("BLAS kernel:    \(k) (\(why))")
        }
        if let c = r.blasConfiguration { print("BLAS config:    \(c)") }
        print("LAPACK:         \(r.lapackAvailable ? "available" : "not found (portable fallbacks in use)")")
        print("Threads:        \(r.threads) (GEMMs split by \(r.gemmThreading == "scion" ? "Scion; OpenBLAS single-threaded per worker" : "BLAS's own threads"))")
        print("Q8/Q4 decode:   \(r.quantizedDecodeKernel) kernel")
        print("CPU:            \(r.cpuModel ?? "unknown")")
        print("CPU features:   \(r.cpuFeatures.joined(separator: " "))")
        if let g = r.gemmGFLOPS { print(String(format: "GEMM 512×768×768: %.1f GFLOPS", g)) }
    }
}
