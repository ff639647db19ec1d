// `scion-bench vocab`: benchmark (d) of the growth issue — vocabulary initialisation (TECHNIQUES.md
// rows 10 and 66, §3.2). A small GPT-2-shaped model is trained on English with a byte-level BPE
// tokenizer trained on English (BPETrainer); the tokenizer is then grown by merges learned on
// new-language text (BPETrainer.extending, old ids kept) and the new embedding rows are initialised
// with each initializer — N(0, 0.02) rows as the baseline (GPT-2's initializer_range), mean, sub-piece
// mean, multivariate Gaussian, CW2V, OFA. For each, held-out new-language and English text is scored
// right after expansion and after a few fine-tuning steps on new-language text (the same batches for
// every initializer). Losses are reported per byte (nats/byte: total NLL over the predicted tokens ÷
// their UTF-8 bytes), which compares tokenizers fairly, and per token.
// Data: `bash Scripts/bench/corpora.sh` (.bench-data/english.txt, de.txt, es.txt, it.txt).
// Usage: scion-bench vocab [--lang de] [--steps 300] [--finetune-steps 30] [--new-tokens 500]
//                          [--vocab 2048] [--embd 128] [--layers 2] [--threads N] [--data DIR]

import Foundation
import ScionGrowth
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
import ScionTokenizers
#if canImport(Glibc)
import Glibc
#endif

/// Options of `scion-bench vocab`.
struct VocabBenchOptions {
    var lang = "de"
    var steps = 300
    var finetuneSteps = 30
    var newTokens = 500
    var vocab = 2048
    var embd = 128
    var layers = 2
    var batch = 16
    var seq = 128
    var data = ".bench-data"

    init(_ arguments: [String]) {
        var i = 0
        func int(_ d: Int) -> Int { i + 1 < arguments.count ? Int(arguments[i + 1]) ?? d : d }
        while i < arguments.count {
            switch arguments[i] {
            case "--lang": lang = i + 1 < arguments.count ? arguments[i + 1] : lang; i += 1
            case "--data": data = i + 1 < arguments.count ? arguments[i + 1] : data; i += 1
            case "--steps": steps = int(steps); i += 1
            case "--finetune-steps": finetuneSteps = int(finetuneSteps); i += 1
            case "--new-tokens": newTokens = int(newTokens); i += 1
            case "--vocab": vocab = int(vocab); i += 1
            case "--embd": embd = int(embd); i += 1
            case "--layers": layers = int(layers); i += 1
            default: break
            }
            i += 1
        }
    }
}

/// The baseline: every new row drawn from N(0, std²), as a freshly initialised GPT-2 embedding.
struct NormalRowsInitializer: EmbeddingInitializer {
    var name: String { "normal" }
    var std: Double
    var seed: UInt64
    func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        var g = RandomGenerator(seed: seed)
        return (0..<(tokens.count * c)).map { _ in Float(g.nextNormal() * std) }
    }
}

/// Held-out scores: total NLL (nats) over the predicted tokens, their count and UTF-8 bytes, and the
/// NLL and count of the predicted tokens with ids ≥ `newFrom` (new tokens).
struct TextScore {
    var nll = 0.0, tokens = 0, bytes = 0, newNLL = 0.0, newTokens = 0
    var perByte: Double { nll / Double(max(1, bytes)) }
    var perToken: Double { nll / Double(max(1, tokens)) }
    var perNewToken: Double { newNLL / Double(max(1, newTokens)) }
    var perOldToken: Double { (nll - newNLL) / Double(max(1, tokens - newTokens)) }
}

/// Scores `text` under `model` with `tokenizer` in non-overlapping windows of `seq` tokens (each
/// window's first token is context only).
func scoreText(_ model: GPT2LMHeadModel, _ tokenizer: Tokenizer, _ text: String, seq: Int, batch: Int, newFrom: Int = .max) -> TextScore {
    let ids = tokenizer.encode(text, addSpecialTokens: false).ids
    let windows = stride(from: 0, to: ids.count - seq + 1, by: seq).map { Array(ids[$0..<($0 + seq)]) }
    var s = TextScore()
    for start in stride(from: 0, to: windows.count, by: batch) {
        let rows = Array(windows[start..<min(start + batch, windows.count)])
        let logProbs = withoutGradients {
            model.logits(Tensor(indices: rows.flatMap { $0 }, shape: [rows.count, seq]), cache: nil, attentionMask: nil)
                .logSoftmax(axis: -1)                                                            // [B, T, V]
        }.floats()
        let v = model.vocabularySize
        for (b, r) in rows.enumerated() {
            for t in 0..<(seq - 1) {
                let target = r[t + 1], nll = -Double(logProbs[(b * seq + t) * v + target])
                s.nll += nll
                s.tokens += 1
                // Byte-level tokens spell one byte per scalar.
                s.bytes += tokenizer.token(forID: target)?.unicodeScalars.count ?? 0
                if target >= newFrom { s.newNLL += nll; s.newTokens += 1 }
            }
        }
    }
    return s
}

/// `count` random windows of `seq` tokens from `ids`, as one [count, seq] batch.
func randomBatch(_ ids: [Int], count: Int, seq: Int, generator g: inout RandomGenerator) -> Tensor {
    var out: [Int] = []
    out.reserveCapacity(count * seq)
    for _ in 0..<count {
        let s = Int(g.next() % UInt64(ids.count - seq))
        out += ids[s..<(s + seq)]
    }
    return Tensor(indices: out, shape: [count, seq])
}

/// Runs `steps` AdamW steps on random windows of `ids`; returns the mean loss of the last 10 steps.
@discardableResult
func trainSteps(_ model: GPT2LMHeadModel, _ ids: [Int], steps: Int, batch: Int, seq: Int, learningRate: Double,
                seed: UInt64, log: ((Int, Double) -> Void)? = nil) -> Double {
    let adamw = AdamW(groups: ParameterGroup.standard(model, weightDecay: 0.1))
    var g = RandomGenerator(seed: seed)
    var recent: [Double] = []
    for step in 0..<steps {
        let loss = model.loss(randomBatch(ids, count: batch, seq: seq, generator: &g))
        let grads = loss.backward()
        // Linear warm-up over the first 10% of steps, then cosine decay to 10%.
        let warm = max(1, steps / 10)
        let lr = step < warm ? learningRate * Double(step + 1) / Double(warm)
            : learningRate * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * Double(step - warm) / Double(max(1, steps - warm)))))
        adamw.step(gradients: grads, learningRate: lr)
        recent.append(loss.item())
        if recent.count > 10 { recent.removeFirst() }
        log?(step, loss.item())
    }
    return recent.reduce(0, +) / Double(max(1, recent.count))
}

@MainActor func benchVocab() {
    let o = VocabBenchOptions(Array(CommandLine.arguments.dropFirst()))
    ComputeSettings.threadCount = threadList[0]
    let dir = URL(fileURLWithPath: o.data)
    func read(_ name: String) -> [String]? {
        (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8))?
            .split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
    guard let english = read("english.txt"), let foreign = read("\(o.lang).txt"), english.count > 1000, foreign.count > 1000 else {
        print("missing corpora in \(o.data): run `bash Scripts/bench/corpora.sh` first (english.txt and \(o.lang).txt)")
        exit(2)
    }
    let t0 = DispatchTime.now().uptimeNanoseconds
    func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
    // Held-out: the last 40 KB of each corpus's lines; training: everything before.
    func split(_ lines: [String]) -> (train: [String], heldOut: String) {
        var n = 0, k = lines.count
        while k > 0 && n < 40_000 { k -= 1; n += lines[k].utf8.count + 1 }
        return (Array(lines[..<k]), lines[k...].joined(separator: "\n"))
    }
    let (enTrain, enHeld) = split(english), (frTrain, frHeld) = split(foreign)

    header("Vocabulary initialisation (benchmark d): English GPT-2 grown by \(o.newTokens) \(o.lang) merges")
    var load = [Double](repeating: 0, count: 3)
    getloadavg(&load, 3)
    print("threads \(threadList[0]), load average \(String(format: "%.2f %.2f %.2f", load[0], load[1], load[2]))")

    // 1. English tokenizer and model.
    let tokenizerJSON: Data, tokenizer: Tokenizer
    do {
        tokenizerJSON = try BPETrainer(vocabularySize: o.vocab, specialTokens: ["<|endoftext|>"]).trainedJSON(on: enTrain)
        tokenizer = try Tokenizer(jsonData: tokenizerJSON)
    } catch { print("tokenizer training failed: \(error)"); exit(1) }
    let enIDs = enTrain.flatMap { tokenizer.encode($0 + "\n", addSpecialTokens: false).ids }
    print(String(format: "English BPE: %d ids, %d training tokens (%.2f bytes/token) [%.0f s]", tokenizer.vocabularySize, enIDs.count,
                 Double(enTrain.reduce(0) { $0 + $1.utf8.count + 1 }) / Double(enIDs.count), elapsed()))
    let config = GPT2Config(vocabSize: o.vocab, nPositions: o.seq, nEmbd: o.embd, nLayer: o.layers, nHead: max(1, o.embd / 32),
                            initializerRange: 0.02)
    var g = RandomGenerator(seed: 42)
    let base = GPT2LMHeadModel(config: config, generator: &g)
    let finalLoss = trainSteps(base, enIDs, steps: o.steps, batch: o.batch, seq: o.seq, learningRate: 3e-3, seed: 1)
    print(String(format: "pre-trained %d steps of %d×%d tokens (n_embd %d, n_layer %d, %d parameters): final train loss %.3f [%.0f s]",
                 o.steps, o.batch, o.seq, o.embd, o.layers, base.numberOfParameters, finalLoss, elapsed()))

    // 2. Merges learned on the new language, appended after the old ids.
    let ext: BPEExtension, grownTokenizer: Tokenizer
    do {
        ext = try BPETrainer(vocabularySize: 0, minimumFrequency: 2).extending(tokenizerJSON, on: frTrain, addingTokens: o.newTokens,
                                                                               firstID: o.vocab)
        grownTokenizer = try ext.tokenizer()
    } catch { print("merges extension failed: \(error)"); exit(1) }
    let k = ext.newTokens.count
    let frIDs = frTrain.flatMap { grownTokenizer.encode($0 + "\n", addSpecialTokens: false).ids }
    let oldFrTokens = tokenizer.encode(frHeld, addSpecialTokens: false).ids.count
    let newFrTokens = grownTokenizer.encode(frHeld, addSpecialTokens: false).ids.count
    print(String(format: "%@ merges: %d new tokens (e.g. %@); held-out %@ text: %d → %d tokens (%.1f%% shorter) [%.0f s]",
                 o.lang, k, ext.newTokens.prefix(8).map { grownTokenizer.decode([grownTokenizer.id(forToken: $0) ?? 0]).debugDescription }
                    .joined(separator: " "), o.lang, oldFrTokens, newFrTokens, 100 * (1 - Double(newFrTokens) / Double(oldFrTokens)), elapsed()))

    // 3. Reference: the original model and tokenizer.
    let refFr = scoreText(base, tokenizer, frHeld, seq: o.seq, batch: o.batch), refEn = scoreText(base, tokenizer, enHeld, seq: o.seq, batch: o.batch)
    print(String(format: "original model, original tokenizer: %@ %.4f nats/byte (%.3f nats/token), English %.4f nats/byte",
                 o.lang, refFr.perByte, refFr.perToken, refEn.perByte))

    let seedCheckpoint = Checkpoint(family: .gpt2, configData: (try? base.configJSON()) ?? Data(), tensors: base.stateDictionary(),
                                    extraFiles: ["tokenizer.json": tokenizerJSON])
    let cw2vCorpus = frTrain.map { grownTokenizer.encode($0, addSpecialTokens: false).ids }
    let oldStrings = (0..<o.vocab).map { id in tokenizer.specialAndAddedTokens.contains { $0.id == id } ? "" : tokenizer.token(forID: id) ?? "" }
    let initializers: [(String, any EmbeddingInitializer)] = [
        ("random N(0, 0.02)", NormalRowsInitializer(std: 0.02, seed: 7)),
        ("mean", MeanInitializer()),
        ("sub-piece mean", SubPieceMeanInitializer()),
        ("Gaussian N(μ, Σ)", GaussianInitializer(seed: 7)),
        ("CW2V", CW2VInitializer(corpus: cw2vCorpus, steps: 300, batchSize: 512, seed: 7)),
        ("OFA (char n-grams)", OFAInitializer(oldTokens: oldStrings)),
        ("OFA rank 32 (char n-grams)", OFAInitializer(oldTokens: oldStrings, rank: 32)),
    ]
    print("\n| init | \(o.lang) nats/byte after expansion | \(o.lang) nats/token: new-token targets / old-token targets | "
        + "English nats/byte (Δ vs original) | \(o.lang) nats/byte after \(o.finetuneSteps) steps | English nats/byte after (Δ) | init s |")
    print("|---|---|---|---|---|---|---|")
    for (label, initializer) in initializers {
        let ti = DispatchTime.now().uptimeNanoseconds
        let grown: Checkpoint
        do { grown = try VocabularyExpansion(extension: ext, initializer: initializer).grow(seedCheckpoint) } catch {
            print("| \(label) | failed: \(error) | | | | | |"); continue
        }
        let initSeconds = Double(DispatchTime.now().uptimeNanoseconds - ti) / 1e9
        var c = config
        c.vocabSize = o.vocab + k
        let model = GPT2LMHeadModel(config: c)
        do { try model.loadCheckpoint(grown.tensors) } catch { print("| \(label) | load failed: \(error) | | | | | |"); continue }
        let fr0 = scoreText(model, grownTokenizer, frHeld, seq: o.seq, batch: o.batch, newFrom: o.vocab)
        let en0 = scoreText(model, grownTokenizer, enHeld, seq: o.seq, batch: o.batch)
        trainSteps(model, frIDs, steps: o.finetuneSteps, batch: o.batch, seq: o.seq, learningRate: 1e-3, seed: 2)
        let fr1 = scoreText(model, grownTokenizer, frHeld, seq: o.seq, batch: o.batch)
        let en1 = scoreText(model, grownTokenizer, enHeld, seq: o.seq, batch: o.batch)
        print(String(format: "| %@ | %.4f | %.2f / %.2f | %.4f (%+.4f) | %.4f | %.4f (%+.4f) | %.1f |", label, fr0.perByte,
                     fr0.perNewToken, fr0.perOldToken, en0.perByte, en0.perByte - refEn.perByte, fr1.perByte, en1.perByte,
                     en1.perByte - refEn.perByte, initSeconds))
    }
    print(String(format: "\ntotal %.0f s", elapsed()))
}
