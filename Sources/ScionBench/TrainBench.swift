// `scion-bench train`: one GPT-2 124M training step (forward, cross-entropy, backward, fused AdamW)
// on random token batches, Scion against the same model and step in PyTorch
// (Scripts/bench/train_gpt2_torch.py, default AdamW and fused=True). Each configuration runs in its
// own process (this executable with `--worker`, or Python), so each process's peak RSS is its own;
// for each shape and thread count the three run one after the other (Scion, torch default, torch
// fused), `--rounds` times, so machine noise hits all three alike. 2 warm-up steps, then the median of
// `--steps` (default 5).
// Usage: scion-bench train [--shapes 4x64,8x128] [--threads N] [--steps 5] [--rounds 1] [--python PATH]
//                          [--no-torch]

import Foundation
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
#if canImport(Glibc)
import Glibc
#endif

/// Options of `scion-bench train` (read from the command line; the shared ones come from BenchOptions).
struct TrainBenchOptions {
    var shapes: [(batch: Int, seq: Int)] = [(4, 64), (8, 128)]
    var steps = 5
    var warmup = 2
    var rounds = 1
    var torch = true
    var worker = false
    var python: String

    init(_ arguments: [String]) {
        let defaultPython = "/work/pyref/bin/python"
        python = FileManager.default.isExecutableFile(atPath: defaultPython) ? defaultPython : "python3"
        var i = 0
        func value() -> String? { i + 1 < arguments.count ? arguments[i + 1] : nil }
        while i < arguments.count {
            switch arguments[i] {
            case "--shapes":
                shapes = (value() ?? "").split(separator: ",").compactMap { s in
                    let p = s.split(separator: "x").compactMap { Int($0) }
                    return p.count == 2 ? (p[0], p[1]) : nil
                }
                i += 1
            case "--steps": steps = Int(value() ?? "") ?? steps; i += 1
            case "--warmup": warmup = Int(value() ?? "") ?? warmup; i += 1
            case "--rounds": rounds = Int(value() ?? "") ?? rounds; i += 1
            case "--python": python = value() ?? python; i += 1
            case "--no-torch": torch = false
            case "--worker": worker = true
            default: break
            }
            i += 1
        }
    }
}

/// GPT-2 124M (n_layer 12, n_embd 768, n_head 12, vocab 50257, n_positions 1024).
let gpt2Small = GPT2Config(vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 12, nHead: 12)

/// Peak resident set size of this process, MiB (getrusage reports KiB on Linux).
func maxRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Nominal FLOPs of one step: 6·N per token plus attention's 12·L·C·T per token (PaLM's count).
func trainStepFLOPs(parameters n: Int, batch: Int, seq: Int, config c: GPT2Config) -> Double {
    let tokens = Double(batch * seq)
    return 6 * Double(n) * tokens + 12 * Double(c.nLayer * c.nEmbd * seq) * tokens
}

/// The worker: builds the model, runs the steps, prints one JSON line.
@MainActor func trainWorker(batch: Int, seq: Int, threads: Int, steps: Int, warmup: Int) {
    ComputeSettings.threadCount = threads
    var gen = RandomGenerator(seed: 1234)
    let model = GPT2LMHeadModel(config: gpt2Small, generator: &gen)
    let adamw = AdamW(groups: ParameterGroup.standard(model, weightDecay: 0.1))
    var times: [Double] = [], forward: [Double] = [], backward: [Double] = [], optimizer: [Double] = []
    var lastLoss = 0.0
    for i in 0..<(warmup + steps) {
        let ids = Tensor(indices: (0..<(batch * seq)).map { _ in Int(gen.next() % UInt64(gpt2Small.vocabSize)) },
                         shape: [batch, seq])
        if i == warmup { MemoryStats.resetPeak() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let loss = model.loss(ids)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let grads = loss.backward()
        let t2 = DispatchTime.now().uptimeNanoseconds
        adamw.step(gradients: grads, learningRate: 6e-4)
        let t3 = DispatchTime.now().uptimeNanoseconds
        lastLoss = loss.item()
        if i >= warmup {
            times.append(Double(t3 - t0) / 1e9)
            forward.append(Double(t1 - t0) / 1e9)
            backward.append(Double(t2 - t1) / 1e9)
            optimizer.append(Double(t3 - t2) / 1e9)
        }
    }
    let n = model.numberOfParameters
    let result: [String: Any] = [
        "median_s": medianOf(times), "times": times, "forward_s": medianOf(forward), "backward_s": medianOf(backward),
        "optimizer_s": medianOf(optimizer), "loss": lastLoss, "parameters": n,
        "peak_tensor_mb": Double(MemoryStats.peakBytes) / 1048576, "peak_rss_mb": maxRSSMiB(), "threads": threads,
    ]
    let data = try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// Runs a program and parses the last stdout line as JSON; nil (with a note) on failure.
func runJSONProcess(_ executable: String, _ arguments: [String], threads: Int) -> [String: Any]? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    var environment = ProcessInfo.processInfo.environment
    // torch.set_num_threads sets the intra-op pool; these keep MKL/OpenMP from adding their own.
    environment["OMP_NUM_THREADS"] = String(threads)
    environment["MKL_NUM_THREADS"] = String(threads)
    process.environment = environment
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.standardError
    do { try process.run() } catch {
        print("  (could not start \(executable): \(error))")
        return nil
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0, let line = text.split(separator: "\n").last,
          let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        print("  (\(executable) failed with status \(process.terminationStatus): \(tail(text)))")
        return nil
    }
    return json
}

@MainActor func benchTrain() {
    let args = Array(CommandLine.arguments.dropFirst())
    let o = TrainBenchOptions(args)
    if o.worker {
        let b = o.shapes.first ?? (4, 64)
        trainWorker(batch: b.batch, seq: b.seq, threads: threadList[0], steps: o.steps, warmup: o.warmup)
        return
    }
    let me = Bundle.main.executablePath ?? CommandLine.arguments[0]
    let script = repositoryRoot().appendingPathComponent("Scripts/bench/train_gpt2_torch.py").path
    var load = [Double](repeating: 0, count: 3)
    getloadavg(&load, 3)
    header("GPT-2 124M training step (fp32, AdamW), \(o.warmup) warm-up + median of \(o.steps) steps, "
        + "\(o.rounds) round(s); load average \(String(format: "%.2f %.2f %.2f", load[0], load[1], load[2]))")
    if o.torch { print("PyTorch: \(o.python) \(script)") }
    print("| shape | threads | Scion s/step (fwd / bwd / AdamW) | torch default s | torch fused s | "
        + "ratio vs default | ratio vs fused | Scion tok/s | Scion GFLOPS | peak MiB Scion RSS (tensors) | "
        + "peak MiB torch RSS default / fused |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (batch, seq) in o.shapes {
        for t in threadList {
            var scion: [[String: Any]] = [], plain: [[String: Any]] = [], fused: [[String: Any]] = []
            let common = ["--batch", String(batch), "--seq", String(seq), "--threads", String(t),
                          "--steps", String(o.steps), "--warmup", String(o.warmup)]
            for _ in 0..<o.rounds {
                if let r = runJSONProcess(me, ["train", "--worker", "--shapes", "\(batch)x\(seq)", "--threads", String(t),
                                               "--steps", String(o.steps), "--warmup", String(o.warmup)], threads: t) {
                    scion.append(r)
                }
                if o.torch {
                    if let r = runJSONProcess(o.python, [script] + common + ["--fused", "0"], threads: t) { plain.append(r) }
                    if let r = runJSONProcess(o.python, [script] + common + ["--fused", "1"], threads: t) { fused.append(r) }
                }
            }
            func med(_ rs: [[String: Any]], _ key: String) -> Double? {
                let v = rs.compactMap { $0[key] as? Double }
                return v.isEmpty ? nil : medianOf(v)
            }
            func f(_ x: Double?, _ format: String = "%.3f") -> String { x.map { String(format: format, $0) } ?? "—" }
            let s = med(scion, "median_s"), p = med(plain, "median_s"), fu = med(fused, "median_s")
            let params = (scion.first?["parameters"] as? Int) ?? 124_439_808
            let flops = trainStepFLOPs(parameters: params, batch: batch, seq: seq, config: gpt2Small)
            let ratioPlain = (s != nil && p != nil) ? p! / s! : nil, ratioFused = (s != nil && fu != nil) ? fu! / s! : nil
            print("| B\(batch)×T\(seq) | \(t) | \(f(s)) (\(f(med(scion, "forward_s"))) / \(f(med(scion, "backward_s"))) / "
                + "\(f(med(scion, "optimizer_s")))) | \(f(p)) | \(f(fu)) | \(f(ratioPlain, "%.2f×")) | "
                + "\(f(ratioFused, "%.2f×")) | \(f(s.map { Double(batch * seq) / $0 }, "%.0f")) | "
                + "\(f(s.map { flops / $0 / 1e9 }, "%.1f")) | \(f(med(scion, "peak_rss_mb"), "%.0f")) "
                + "(\(f(med(scion, "peak_tensor_mb"), "%.0f"))) | \(f(med(plain, "peak_rss_mb"), "%.0f")) / "
                + "\(f(med(fused, "peak_rss_mb"), "%.0f")) |")
        }
    }
    getloadavg(&load, 3)
    print("\nload average after: \(String(format: "%.2f %.2f %.2f", load[0], load[1], load[2]))")
}
