// `scion-bench safetensors`: loading a ~500 MB safetensors file of random float32 tensors with
// transformer shapes (generated once with SafetensorsWriter into the scratch folder). Measures
// SafetensorsFile's open + header parse, zero-copy tensor views of every tensor, touching every page of
// the mmap and reading every byte, against a plain read() of the whole file into fresh memory (same run)
// and, when importable, Python `safetensors.numpy.load_file` (Scripts/bench/safetensors_reference.py).
// "Warm" runs find the file in the page cache; "cold" ones drop it first with posix_fadvise(DONTNEED).

import Foundation
import ScionCheckpoint
import ScionTensor
#if canImport(Glibc)
import Glibc
#endif

/// Tensor shapes of a small Llama-style model (d 768, FFN 3072, 11 layers, 32000 vocabulary): ~513 MB of float32.
func benchCheckpointShapes() -> [(String, [Int])] {
    var shapes: [(String, [Int])] = [("model.embed_tokens.weight", [32000, 768]), ("model.norm.weight", [768])]
    for l in 0..<11 {
        let p = "model.layers.\(l)."
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"] { shapes.append((p + "self_attn.\(n).weight", [768, 768])) }
        shapes.append((p + "mlp.gate_proj.weight", [3072, 768]))
        shapes.append((p + "mlp.up_proj.weight", [3072, 768]))
        shapes.append((p + "mlp.down_proj.weight", [768, 3072]))
        shapes.append((p + "input_layernorm.weight", [768]))
        shapes.append((p + "post_attention_layernorm.weight", [768]))
    }
    return shapes
}

/// The benchmark file, written once (random floats in [-1, 1) from a fixed seed).
func benchSafetensorsFile() throws -> (String, Int) {
    let shapes = benchCheckpointShapes()
    let dataBytes = shapes.reduce(0) { $0 + 4 * $1.1.reduce(1, *) }
    let path = benchScratchDirectory().appendingPathComponent("bench-\(dataBytes).safetensors").path
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > dataBytes {
        return (path, size)
    }
    var g = RandomGenerator(seed: 11)
    let entries = shapes.map { name, shape -> SafetensorsEntry in
        let n = shape.reduce(1, *)
        var bytes = [UInt8](repeating: 0, count: 4 * n)
        bytes.withUnsafeMutableBytes { raw in
            let f = raw.bindMemory(to: Float.self)
            for i in 0..<n { f[i] = Float(g.next() >> 40) * 0x1p-23 - 1 }
        }
        return SafetensorsEntry(name: name, dtype: .f32, shape: shape, bytes: bytes)
    }
    try SafetensorsWriter.write(entries: entries, metadata: ["format": "pt"], to: path)
    let size = (try FileManager.default.attributesOfItem(atPath: path))[.size] as? Int ?? 0
    return (path, size)
}

/// Drops the file's pages from the page cache (clean pages only; no privileges needed).
func dropFromPageCache(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return }
    _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
    close(fd)
}

/// Sum of every 8-byte word (reads every byte; integer adds vectorise).
@inline(never) func wordSum(_ b: UnsafeRawBufferPointer) -> UInt64 {
    let n = b.count / 8
    guard n > 0, let base = b.baseAddress else { return 0 }
    var s: UInt64 = 0
    for i in 0..<n { s &+= base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) }
    return s
}

/// One byte from every 4 KiB page of `b` (and its last byte).
@inline(never) func pageTouch(_ b: UnsafeRawBufferPointer) -> UInt64 {
    guard !b.isEmpty else { return 0 }
    var s: UInt64 = 0
    var i = 0
    while i < b.count { s &+= UInt64(b[i]); i += 4096 }
    return s &+ UInt64(b[b.count - 1])
}

/// read() of the whole file into a fresh 64-byte-aligned buffer (or into `into`, already faulted in).
func plainRead(_ path: String, into reused: UnsafeMutableRawPointer? = nil) -> UInt64 {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    let size = Int(st.st_size)
    let buffer = reused ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    defer { if reused == nil { buffer.deallocate() } }
    var done = 0
    while done < size {
        let r = read(fd, buffer + done, size - done)
        precondition(r > 0, "read \(path)")
        done += r
    }
    return UInt64(buffer.load(fromByteOffset: size - 1, as: UInt8.self))
}

@MainActor func benchSafetensors() {
    ComputeSettings.threadCount = threadList[0]
    let path: String, size: Int
    do { (path, size) = try benchSafetensorsFile() } catch { print("safetensors: cannot write the file: \(error)"); return }
    let mb = Double(size) / 1e6
    let count = benchCheckpointShapes().count
    header(String(format: "Safetensors load: %.0f MB, %d float32 tensors (median of %d runs, each a fresh open)", mb, count, runs))
    print("File: \(path). Scion threads setting: \(ComputeSettings.threadCount) (loading is single-threaded).\n")
    func open() -> SafetensorsFile {
        do { return try SafetensorsFile(path: path) } catch { fatalError("\(error)") }
    }
    func eachTensor(_ f: SafetensorsFile, _ body: (UnsafeRawBufferPointer) -> UInt64) {
        for name in f.tensorNames {
            do { benchSink &+= try f.withRawBytes(named: name, body) } catch { fatalError("\(error)") }
        }
    }
    let scionOpen = median(runs) { benchSink &+= UInt64(open().tensors.count) }
    let scionViews = median(runs) {
        let f = open()
        for name in f.tensorNames { do { benchSink &+= UInt64(try f.tensor(named: name).count) } catch { fatalError("\(error)") } }
    }
    let scionTouch = median(runs) { eachTensor(open(), pageTouch) }
    let (scionRead, plain) = pairedMedians(runs, { eachTensor(open(), wordSum) }, { benchSink &+= plainRead(path) })
    // read() into one buffer faulted in beforehand: the copy alone, without first-touch page faults.
    let reused = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    reused.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    let plainReused = median(runs) { benchSink &+= plainRead(path, into: reused) }
    reused.deallocate()
    // Cold: the page cache dropped before every run (not counted), alternating Scion and read().
    var coldScion: [Double] = [], coldPlain: [Double] = []
    for _ in 0..<runs {
        dropFromPageCache(path)
        coldScion.append(seconds { eachTensor(open(), wordSum) })
        dropFromPageCache(path)
        coldPlain.append(seconds { benchSink &+= plainRead(path) })
    }
    let script = repositoryRoot().appendingPathComponent("Scripts/bench/safetensors_reference.py").path
    var python: (open: Double, warm: Double, cold: Double)?
    var note = ""
    if let warm = runPython(options.python, [script, path, "--repeat", "\(runs)"]), warm.status == 0,
       let wj = warm.json, let loads = wj["load_file"] as? [Double], let opens = wj["open"] as? [Double],
       let cold = runPython(options.python, [script, path, "--repeat", "\(runs)", "--cold"]), cold.status == 0,
       let cj = cold.json, let coldLoads = cj["load_file"] as? [Double] {
        python = (medianOf(opens), medianOf(loads), medianOf(coldLoads))
    } else {
        note = "Python safetensors reference skipped (`\(options.python)` cannot import safetensors.numpy / numpy, or failed)."
    }
    print("| measurement | cache | median ms | GB/s | vs read() |")
    print("|---|---|---|---|---|")
    func row(_ label: String, _ cache: String, _ t: Double, _ reference: Double?) {
        let vs = reference.map { String(format: "%.2f×", $0 / t) } ?? "—"
        print(String(format: "| %@ | %@ | %.2f | %.2f | %@ |", label, cache, t * 1000, Double(size) / t / 1e9, vs))
    }
    row("Scion: open + header parse (mmap)", "warm", scionOpen, nil)
    row("Scion: open + zero-copy `tensor(named:)` of all \(count)", "warm", scionViews, nil)
    row("Scion: open + touch every page (one byte per 4 KiB)", "warm", scionTouch, plain)
    row("Scion: open + read every byte (`withRawBytes`, word sum)", "warm", scionRead, plain)
    row("plain `read()` of the whole file into fresh memory", "warm", plain, plain)
    row("plain `read()` into a reused, already-faulted buffer", "warm", plainReused, plain)
    if let python {
        row("Python `safe_open` + `keys()`", "warm", python.open, nil)
        row("Python `safetensors.numpy.load_file`", "warm", python.warm, plain)
    }
    row("Scion: open + read every byte", "cold", medianOf(coldScion), medianOf(coldPlain))
    row("plain `read()` of the whole file", "cold", medianOf(coldPlain), medianOf(coldPlain))
    if let python { row("Python `safetensors.numpy.load_file`", "cold", python.cold, medianOf(coldPlain)) }
    print("\n\"vs read()\" = read() time / this time (above 1: faster than read()); GB/s counts the whole file's bytes.")
    if !note.isEmpty { print("\n- \(note)") }
}
