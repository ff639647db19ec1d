// `scion-bench tokenizers`: single-threaded encode throughput of each tokenizer family, Scion in-process
// vs Hugging Face `tokenizers` (Scripts/bench/tokenizer_reference.py run with --python) on the same text.
// Both encode the file's bytes split on "\n", line by line, without special tokens, padding or truncation.
// Timing alternates blocks (Scion, HF, Scion, HF, …) so machine drift hits both; medians of all passes.

import Foundation
import ScionTensor
import ScionTokenizers

/// The default text: Tests/Fixtures/tokenizers/corpus.txt repeated to at least 2 MB (deterministic).
func defaultTokenizerText(_ root: URL) throws -> URL {
    let corpus = try Data(contentsOf: root.appendingPathComponent("Tests/Fixtures/tokenizers/corpus.txt"))
    var text = Data()
    while text.count < 2_000_000 { text.append(corpus) }
    let url = benchScratchDirectory().appendingPathComponent("tokenizer-text-\(text.count).txt")
    if (try? Data(contentsOf: url)) != text { try text.write(to: url) }
    return url
}

/// The tokenizer families: committed fixtures plus the real files named by the environment.
func tokenizerFamilies(_ root: URL) -> [(String, URL?)] {
    let fixtures = root.appendingPathComponent("Tests/Fixtures/tokenizers")
    var families: [(String, URL?)] = [
        ("gpt2 (byte-level BPE)", "gpt2"), ("llama3 (byte-level BPE)", "llama3"), ("qwen2 (byte-level BPE)", "qwen2"),
        ("llama2 (SentencePiece BPE)", "llama2"), ("unigram", "unigram"), ("bert (WordPiece)", "bert"),
    ].map { ($0.0, fixtures.appendingPathComponent($0.1).appendingPathComponent("tokenizer.json")) }
    let env = ProcessInfo.processInfo.environment
    families.append(("SmolLM2-135M (real, 49152)",
                     env["SCION_SMOLLM2_TOKENIZER_JSON"].map { URL(fileURLWithPath: $0) }))
    families.append(("all-MiniLM-L6-v2 (real, WordPiece)",
                     env["SCION_MINILM_DIR"].map { URL(fileURLWithPath: $0).appendingPathComponent("tokenizer.json") }))
    return families
}

@MainActor func benchTokenizers() {
    ComputeSettings.threadCount = threadList[0]
    let root = repositoryRoot()
    let script = root.appendingPathComponent("Scripts/bench/tokenizer_reference.py").path
    let textURL: URL
    do { textURL = try options.text.map { URL(fileURLWithPath: $0) } ?? defaultTokenizerText(root) } catch {
        print("tokenizers: cannot prepare the text: \(error)"); return
    }
    guard let data = try? Data(contentsOf: textURL) else { print("tokenizers: cannot read \(textURL.path)"); return }
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let bytes = lines.reduce(0) { $0 + $1.utf8.count }
    let blocks = 3, passes = max(1, (runs + 2) / 3)
    header("Tokenizers: encode MB/s, one thread, \(bytes) bytes in \(lines.count) lines of \(textURL.lastPathComponent) "
        + "(median of \(blocks * passes) passes, Scion and HF alternating in \(blocks) blocks)")
    print("Reference: `\(options.python) Scripts/bench/tokenizer_reference.py` (HF tokenizers, RAYON_NUM_THREADS=1, `encode` per line).")
    print("Scion threads setting: \(ComputeSettings.threadCount) (tokenizers never use the thread pool).\n")
    print("| tokenizer | tokens | Scion tokenIDs MB/s | Scion encode MB/s | HF encode MB/s | tokenIDs / HF | encode / HF | same token count |")
    print("|---|---|---|---|---|---|---|---|")
    var notes: [String] = []
    var referenceAvailable = true
    for (label, url) in tokenizerFamilies(root) {
        guard let url else { notes.append("\(label): skipped (environment variable not set)"); continue }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(contentsOf: url) } catch {
            notes.append("\(label): skipped (\(url.path): \(error))"); continue
        }
        func passIDs() -> Int { lines.reduce(0) { $0 + tokenizer.tokenIDs($1).count } }
        func passEncode() -> Int {
            lines.reduce(0) { $0 + tokenizer.encode($1, addSpecialTokens: false, applyTruncation: false, applyPadding: false).ids.count }
        }
        var scionTokens = passIDs()
        _ = passEncode()
        var idTimes: [Double] = [], encodeTimes: [Double] = [], hfTimes: [Double] = []
        var hfTokens: Int?
        for _ in 0..<blocks {
            for _ in 0..<passes {
                idTimes.append(seconds { scionTokens = passIDs() })
                encodeTimes.append(seconds { _ = passEncode() })
            }
            guard referenceAvailable else { continue }
            let result = runPython(options.python, [script, url.path, textURL.path, "--repeat", "\(passes)", "--json"])
            if let result, result.status == 0, let json = result.json, let times = json["times"] as? [Double] {
                hfTimes += times
                hfTokens = json["tokens"] as? Int
            } else {
                referenceAvailable = false
                notes.append("HF reference skipped: \(result.map { "exit \($0.status): \(tail($0.stderr))" } ?? "cannot run \(options.python)")")
            }
        }
        let mbIDs = Double(bytes) / medianOf(idTimes) / 1e6, mbEncode = Double(bytes) / medianOf(encodeTimes) / 1e6
        if hfTimes.isEmpty {
            print(String(format: "| %@ | %d | %.2f | %.2f | skipped | — | — | — |", label, scionTokens, mbIDs, mbEncode))
        } else {
            let mbHF = Double(bytes) / medianOf(hfTimes) / 1e6
            let same = hfTokens == scionTokens ? "yes" : "no (HF \(hfTokens ?? -1))"
            print(String(format: "| %@ | %d | %.2f | %.2f | %.2f | %.2f× | %.2f× | %@ |", label, scionTokens, mbIDs, mbEncode,
                         mbHF, mbIDs / mbHF, mbEncode / mbHF, same))
        }
    }
    if !notes.isEmpty { print(""); for n in notes { print("- \(n)") } }
}
