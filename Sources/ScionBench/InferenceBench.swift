// `scion-bench inference`: inference speed side by side with the references, in one run.
//   1. A GPT-2-124M-shaped model (random init, fp32) vs PyTorch/transformers GPT2LMHeadModel of the same
//      shapes (Scripts/bench/inference_torch.py): prefill tokens/s at B=1×T=128 (full logits, no cache)
//      and decode ms/token with the KV cache (greedy, 48 tokens after a 128-token prompt, context
//      128-176), 1 and 2 threads; peak tensor memory (MemoryStats) and max RSS of each process.
//   2. SmolLM2-135M (SCION_SMOLLM2_GGUF, Q4_1 with a Q8_0 embedding) and a Q8_0 re-quantization of it
//      (written to /tmp with GGUFWriter) decoding through `Generator`, vs llama.cpp through
//      llama-cpp-python on the same files (Scripts/bench/llamacpp_decode.py) when it is installed, else
//      llama.cpp's llama-bench (SCION_LLAMA_BENCH or PATH; Scripts/bench/llamacpp-build.sh builds it).
// Rounds alternate Scion and the reference so machine noise hits both alike; medians throughout.
// SCION_INFERENCE_PARTS=gpt2,smollm2 picks the parts (default both).

import Foundation
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor
import ScionTokenizers
#if canImport(Glibc)
import Glibc
#endif

/// This process's max RSS so far, in MB.
func maxRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(truncatingIfNeeded: RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The interpreter for the inference references: --python when given, else /work/pyref/bin/python when it exists.
func inferencePython() -> String {
    let venv = "/work/pyref/bin/python"
    if options.python == "python3" && FileManager.default.fileExists(atPath: venv) { return venv }
    return options.python
}

/// The id of the largest value in the last position of logits [1, T, V].
func lastArgmax(_ logits: Tensor) -> Int {
    let t = logits.shape[1]
    return logits.sliced(axis: 1, (t - 1)..<t).reshaped([logits.shape[2]]).argmax(axis: 0).ints()[0]
}

@MainActor func benchInference() {
    let parts = ProcessInfo.processInfo.environment["SCION_INFERENCE_PARTS"] ?? "gpt2,smollm2"
    let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    print("load average at start: \(load)")
    if parts.contains("gpt2") { benchGPT2Inference() }
    if parts.contains("smollm2") { benchSmolLM2Decode() }
    let loadEnd = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    print("\nload average at end: \(loadEnd)")
}

// MARK: GPT-2 124M vs PyTorch

@MainActor func benchGPT2Inference() {
    let (promptLength, newTokens, rounds) = (128, 48, 2)
    header("GPT-2-124M-shaped fp32 inference vs PyTorch: prefill B=1×T=\(promptLength), decode \(newTokens) tokens "
           + "after a \(promptLength)-token prompt (\(rounds) alternating rounds × \(runs) runs, medians)")
    let python = inferencePython()
    let script = repositoryRoot().appendingPathComponent("Scripts/bench/inference_torch.py").path
    var g = RandomGenerator(seed: 11)
    let config = GPT2Config(vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 12, nHead: 12)
    let model = GPT2LMHeadModel(config: config, generator: &g)
    let prompt = (0..<promptLength).map { ($0 * 7919 + 13) % config.vocabSize }
    let ids = Tensor(indices: prompt, shape: [1, promptLength])
    let weightMB = Double(model.namedParameters().reduce(0) { $0 + $1.1.value.count * 4 }) / 1e6
    print(String(format: "Scion weights: %.0f MB fp32 (tied head)", weightMB))

    func prefill() { _ = withoutGradients { model.logits(ids, cache: nil, attentionMask: nil) } }
    /// Seconds for `newTokens` greedy decode steps after a prefill (the prefill is not timed).
    func decode() -> Double {
        withoutGradients {
            let cache = model.makeCache(batchSize: 1, capacity: promptLength + newTokens + 1)
            var token = lastArgmax(model.logits(ids, cache: cache, attentionMask: nil))
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<newTokens {
                token = lastArgmax(model.logits(Tensor(indices: [token], shape: [1, 1]), cache: cache, attentionMask: nil))
            }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
    }

    struct Row { var threads = 0, prefill: [Double] = [], decode: [Double] = [], peakMB = 0.0
        var torchPrefill: [Double] = [], torchDecode: [Double] = [], torchRSS = 0.0, torchNote = "" }
    var rows: [Row] = []
    for t in threadList {
        ComputeSettings.threadCount = t
        var row = Row(threads: t)
        prefill(); _ = decode()                                  // warm-up
        MemoryStats.resetPeak()
        let base = MemoryStats.liveBytes
        for _ in 0..<rounds {
            for _ in 0..<runs {
                row.prefill.append(seconds { prefill() })
                row.decode.append(decode())
            }
            row.peakMB = max(row.peakMB, Double(MemoryStats.peakBytes - base) / 1e6)
            if let r = runPython(python, [script, "--threads", "\(t)", "--runs", "\(runs)",
                                          "--prompt", "\(promptLength)", "--new", "\(newTokens)"]), r.status == 0, let j = r.json,
               let p = j["prefill_s"] as? Double, let d = j["decode_ms_per_token"] as? Double {
                row.torchPrefill.append(p); row.torchDecode.append(d / 1000 * Double(newTokens))
                row.torchRSS = max(row.torchRSS, j["max_rss_mb"] as? Double ?? 0)
            } else {
                row.torchNote = "PyTorch reference did not run (\(python))"
            }
        }
        rows.append(row)
    }
    print("| threads | Scion prefill tok/s | PyTorch prefill tok/s | prefill ratio (goal ≥ 1.5) | Scion decode ms/token | PyTorch decode ms/token | decode ratio (PyTorch/Scion) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows {
        let sp = Double(promptLength) / medianOf(r.prefill), sd = medianOf(r.decode) / Double(newTokens) * 1000
        if r.torchPrefill.isEmpty {
            print(String(format: "| %d | %.1f | — | — | %.2f | — | — |", r.threads, sp, sd))
        } else {
            let tp = Double(promptLength) / medianOf(r.torchPrefill), td = medianOf(r.torchDecode) / Double(newTokens) * 1000
            print(String(format: "| %d | %.1f | %.1f | %.2f× | %.2f | %.2f | %.2f× |", r.threads, sp, tp, sp / tp, sd, td, td / sd))
        }
    }
    print("\n| threads | Scion peak tensor MB (above weights) | Scion max RSS MB (process so far) | PyTorch max RSS MB |")
    print("|---|---|---|---|")
    for r in rows {
        print(String(format: "| %d | %.1f | %.0f | %@ |", r.threads, r.peakMB, maxRSSMegabytes(),
                     r.torchPrefill.isEmpty ? "—" : String(format: "%.0f", r.torchRSS)))
        if !r.torchNote.isEmpty { print("  note: \(r.torchNote)") }
    }
    print("Goal: decode ≤ 25 ms/token at 2 threads.")
}

// MARK: SmolLM2-135M quantized decode vs llama.cpp

/// Writes a Q8_0 copy of a GGUF file: Q4_0/Q4_1 matrices are dequantized and re-quantized to Q8_0, every
/// other tensor and all metadata are copied as they are. (Quality is that of the 4-bit source.)
func writeQ8Variant(of source: GGUFFile, to path: String) throws {
    var writer = GGUFWriter()
    for (key, value) in source.metadataEntries where key != "general.file_type" { writer.set(key, value) }
    for t in source.tensors {
        if t.type == .q4_1 || t.type == .q4_0 {
            try writer.addTensor(name: t.name, tensor: try t.dequantized(), type: .q8_0)
        } else {
            try writer.addRawTensor(name: t.name, type: t.type, shape: t.shape, bytes: [UInt8](t.rawData))
        }
    }
    try writer.write(to: path)
}

@MainActor func benchSmolLM2Decode() {
    let (promptLength, newTokens, rounds) = (128, 48, 2)
    header("SmolLM2-135M decode through Generator vs llama.cpp: greedy, \(newTokens) tokens after a \(promptLength)-token prompt")
    guard let q41Path = ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"] else {
        print("SCION_SMOLLM2_GGUF not set (eval \"$(bash Scripts/fetch-models.sh)\"): skipped"); return
    }
    let q8Path = FileManager.default.temporaryDirectory.appendingPathComponent("scion-bench-smollm2-q8_0.gguf").path
    do {
        if !FileManager.default.fileExists(atPath: q8Path) { try writeQ8Variant(of: try GGUFFile(path: q41Path), to: q8Path) }
    } catch {
        print("could not write the Q8_0 variant: \(error)"); return
    }
    print("Q8_0 variant: \(q8Path) (Q4_1 weights dequantized and re-quantized: Q8_0 speed, Q4_1 quality)")
    let python = inferencePython()
    let script = repositoryRoot().appendingPathComponent("Scripts/bench/llamacpp_decode.py").path
    print("Scion: int16 `pmaddwd` kernel (default) and the float kernel (QuantizedMatrix.usesIntegerKernel = false), alternated.")
    print("| weights | threads | Scion ms/token | Scion tok/s | Scion float-kernel ms/token | llama.cpp tok/s | ratio Scion/llama.cpp (goal ≥ 0.8) | Scion peak tensor MB | Scion max RSS MB | llama.cpp max RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    var notes: [String] = []
    for (label, path) in [("Q8_0", q8Path), ("Q4_1", q41Path)] {
        let loaded: LoadedLanguageModel
        do { loaded = try ModelLoader.loadLanguageModel(path: path) } catch { print("load failed: \(error)"); continue }
        guard let tokenizer = loaded.tokenizer else { print("\(path): no tokenizer in the file"); continue }
        let generator = Generator(model: loaded.model, tokenizer: tokenizer)
        let corpus = String(repeating: "The quick brown fox jumps over the lazy dog while the committee reviews the annual budget. ", count: 40)
        let prompt = Array(tokenizer.encode(corpus, addSpecialTokens: false, applyTruncation: false, applyPadding: false)
            .ids.prefix(promptLength))
        func generate(_ n: Int) -> Double {
            seconds {
                _ = try? generator.generate(promptTokenIDs: [prompt],
                                            options: GenerationOptions(maxNewTokens: n, sampling: .greedy, addSpecialTokens: false))
            }
        }
        // Sanity: greedy tokens with the integer and the float kernel (and llama.cpp's, printed below).
        func tokens() -> [Int] {
            (try? generator.generate(promptTokenIDs: [prompt], options: GenerationOptions(maxNewTokens: newTokens, sampling: .greedy,
                                                                                         addSpecialTokens: false)))?[0].tokenIDs ?? []
        }
        let intTokens = tokens()
        QuantizedMatrix.usesIntegerKernel = false
        let floatTokens = tokens()
        QuantizedMatrix.usesIntegerKernel = true
        let same = zip(intTokens, floatTokens).prefix { $0 == $1 }.count
        notes.append("\(label): greedy tokens, int16 kernel vs float kernel agree on the first \(same) of \(newTokens); "
                     + "Scion's first 16: \(intTokens.prefix(16).map(String.init).joined(separator: ","))")
        for t in threadList {
            ComputeSettings.threadCount = t
            _ = generate(newTokens + 1)                                  // warm-up (pages the weights in)
            MemoryStats.resetPeak()
            let base = MemoryStats.liveBytes
            var scion: [Double] = [], floatKernel: [Double] = [], llama: [Double] = [], llamaRSS = 0.0
            for _ in 0..<rounds {
                for _ in 0..<runs {
                    // newTokens decode steps = generating newTokens + 1 tokens minus generating 1 (prefill + first sample).
                    QuantizedMatrix.usesIntegerKernel = true
                    let full = generate(newTokens + 1), first = generate(1)
                    scion.append((full - first) / Double(newTokens))
                    QuantizedMatrix.usesIntegerKernel = false
                    let fullF = generate(newTokens + 1), firstF = generate(1)
                    floatKernel.append((fullF - firstF) / Double(newTokens))
                    QuantizedMatrix.usesIntegerKernel = true
                }
                var failure: String? = nil
                if let r = runPython(python, [script, "--model", path, "--threads", "\(t)", "--runs", "\(runs)",
                                              "--new", "\(newTokens)", "--ids", prompt.map(String.init).joined(separator: ",")]) {
                    if r.status == 0, let j = r.json, let s = j["decode_s_per_token"] as? Double {
                        if llama.isEmpty && t == threadList[0], let g = j["generated"] as? [Int] {
                            notes.append("\(label): llama.cpp's first 16 greedy tokens: \(g.map(String.init).joined(separator: ","))")
                        }
                        llama.append(s); llamaRSS = max(llamaRSS, j["max_rss_mb"] as? Double ?? 0)
                    } else {
                        failure = tail(r.stderr + r.stdout, lines: 3)
                    }
                }
                // Without llama-cpp-python: llama.cpp's own llama-bench on the same file (tg N at depth T).
                if failure != nil, let bench = llamaBenchExecutable(),
                   let seconds = runLlamaBench(bench, model: path, threads: t, runs: runs, newTokens: newTokens, depth: prompt.count) {
                    llama += seconds
                    failure = nil
                    let note = "llama.cpp: \(bench) -p 0 -n \(newTokens) -d \(prompt.count) (decode at context \(prompt.count)-\(prompt.count + newTokens), its own timing; max RSS not measured)"
                    if !notes.contains(note) { notes.append(note) }
                }
                if let failure, !notes.contains(where: { $0.hasPrefix("llama.cpp reference") }) {
                    notes.append("llama.cpp reference did not run (llama-cpp-python failed, no llama-bench: set SCION_LLAMA_BENCH): \(failure)")
                }
            }
            let peak = Double(MemoryStats.peakBytes - base) / 1e6
            let s = medianOf(scion), f = medianOf(floatKernel)
            if llama.isEmpty {
                print(String(format: "| %@ | %d | %.2f | %.1f | %.2f | — | — | %.1f | %.0f | — |", label, t, s * 1000, 1 / s, f * 1000,
                             peak, maxRSSMegabytes()))
            } else {
                let l = medianOf(llama)
                print(String(format: "| %@ | %d | %.2f | %.1f | %.2f | %.1f | %.2f× | %.1f | %.0f | %@ |", label, t, s * 1000, 1 / s,
                             f * 1000, 1 / l, l / s, peak, maxRSSMegabytes(), llamaRSS > 0 ? String(format: "%.0f", llamaRSS) : "—"))
            }
        }
    }
    for n in notes { print("note: \(n)") }
}

/// llama.cpp's llama-bench: SCION_LLAMA_BENCH, else `llama-bench` on PATH (Scripts/bench/llamacpp-build.sh builds one).
func llamaBenchExecutable() -> String? {
    if let p = ProcessInfo.processInfo.environment["SCION_LLAMA_BENCH"], FileManager.default.isExecutableFile(atPath: p) { return p }
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let p = "\(dir)/llama-bench"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}

/// Seconds per generated token of each llama-bench repetition (`-o json`, samples_ts), or nil.
func runLlamaBench(_ executable: String, model: String, threads: Int, runs: Int, newTokens: Int, depth: Int) -> [Double]? {
    guard let r = runPython(executable, ["-m", model, "-p", "0", "-n", "\(newTokens)", "-d", "\(depth)", "-t", "\(threads)",
                                         "-r", "\(runs)", "-o", "json"]), r.status == 0,
          let data = r.stdout.data(using: .utf8),
          let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]],
          let samples = rows.first?["samples_ts"] as? [Double], !samples.isEmpty else { return nil }
    return samples.filter { $0 > 0 }.map { 1 / $0 }
}
