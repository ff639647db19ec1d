// GGUF reader, dequantizers, quantizers and writer: the reference fixture written by gguf-py (every
// metadata type, one tensor per quant type with gguf.quants.dequantize's values), FORMATS.md §4 test
// vectors, write → read round trips, each malformed-header case, and the SmolLM2 file (gated).

import Foundation
import Testing
import ScionTensor
@testable import ScionCheckpoint

@Suite struct GGUFTests {
    static let quants = Fixtures.path("quants.gguf")

    @Test func readsEveryMetadataTypeFromReferenceFixture() throws {
        let file = try GGUFFile(path: Self.quants)
        #expect(file.version == 3 && file.alignment == 32 && file.dataOffset % 32 == 0)
        let m = file.metadata
        #expect(m["general.architecture"] == .string("llama"))
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.f32"] == .float32(0.15625))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"] == .string("héllo ✓"))
        #expect(m["test.u64"] == .uint64(18_000_000_000_000_000_000))
        #expect(m["test.i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(m["test.f64"] == .float64(2.718281828459045))
        #expect(m["test.array_i32"] == .array(.int32, [.int32(1), .int32(-2), .int32(3)]))
        #expect(m["test.array_str"] == .array(.string, [.string("a"), .string(""), .string("ccc")]))
        #expect(m["test.array_u8"] == .array(.uint8, [.uint8(7), .uint8(8), .uint8(9)]))
        #expect(m["test.array_nested"] == .array(.array, [
            .array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)]),
            .array(.int32, [.int32(4), .int32(5), .int32(6)]),
        ]))
        #expect(file.metadataEntries.map(\.key).first == "general.architecture")
        #expect(file.metadataEntries.count == 17)
    }

    @Test func dequantizesEveryTypeLikeGGUFPy() throws {
        let file = try GGUFFile(path: Self.quants)
        let expected = try Fixtures.floats("quants_expected.f32")
        let manifest = try Fixtures.json("quants.json")
        let entries = manifest["tensors"] as! [[String: Any]]
        #expect(entries.count == 14)
        var seen = Set<GGMLType>()
        for e in entries {
            let name = e["name"] as! String
            let t = try file.tensor(named: name)
            seen.insert(t.type)
            #expect(t.type.name == e["type"] as! String)
            #expect(t.shape == [4, 512] && t.dimensions == [512, 4])
            let want = Array(expected[(e["value_offset"] as! Int)..<(e["value_offset"] as! Int) + (e["count"] as! Int)])
            let got = try t.dequantized().floats()
            let bad = zip(got, want).enumerated().filter { !closeEnough($0.element.0, $0.element.1) }
            #expect(bad.isEmpty, "\(name): \(bad.count) mismatches, first \(bad.first.map { "\($0.offset): \($0.element)" } ?? "")")
            // Row by row gives the same values.
            var row = [Float](repeating: .nan, count: t.rowLength)
            for r in 0..<t.rowCount {
                try row.withUnsafeMutableBufferPointer { try t.dequantizeRow(r, into: $0.baseAddress!) }
                #expect(row == Array(got[(r * t.rowLength)..<((r + 1) * t.rowLength)]), "\(name) row \(r)")
            }
        }
        #expect(seen == [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K])
    }

    @Test func quantizersMatchGGUFPyBytes() throws {
        let file = try GGUFFile(path: Self.quants)
        let inputs = try Fixtures.floats("quants_inputs.f32")
        let entries = try Fixtures.json("quants.json")["tensors"] as! [[String: Any]]
        var checked = 0
        for e in entries {
            guard let start = e["input_offset"] as? Int else { continue }
            let t = try file.tensor(named: e["name"] as! String)
            guard GGMLQuantization.quantizableTypes.contains(t.type) else { continue }
            let x = Array(inputs[start..<start + t.elementCount])
            #expect(GGMLQuantization.quantize(x, as: t.type) == Array(t.rawData), "\(t.type.name)")
            checked += 1
        }
        #expect(checked == 3)  // Q4_0, Q4_1, Q8_0
        // F16 / BF16 conversion of the F32 tensor equals the stored f16 / bf16 tensors.
        let f32 = try file.tensor(named: "f32").dequantized().floats()
        #expect(GGMLQuantization.quantize(f32, as: .f16) == Array(try file.tensor(named: "f16").rawData))
        #expect(GGMLQuantization.quantize(f32, as: .bf16) == Array(try file.tensor(named: "bf16").rawData))
    }

    @Test func formatsDocumentTestVectors() {
        // FORMATS.md §4: first Q4_1 block of SmolLM2's blk.0.attn_q.weight.
        let q41 = hexBytes("0f30d8b9458765406f65164b677664502267655a")
        var y = [Float](repeating: 0, count: 32)
        q41.withUnsafeBytes { src in y.withUnsafeMutableBufferPointer { GGMLQuantization.dequantize(.q4_1, src.baseAddress!, count: 32, into: $0.baseAddress!) } }
        #expect(abs(HalfConversion.float(fromHalf: 0x300f) - 0.12683105) < 1e-7)
        #expect(abs(y[0] - -0.09631348) < 1e-7)
        #expect(y[3] == -0.73046875)
        #expect(abs(y[16] - -0.22314453) < 1e-7)
        // First Q8_0 block of token_embd starts 3219d60d13f7: x[0] = d·(−42).
        let q80 = hexBytes("3219d60d13f7") + [UInt8](repeating: 0, count: 28)
        q80.withUnsafeBytes { src in y.withUnsafeMutableBufferPointer { GGMLQuantization.dequantize(.q8_0, src.baseAddress!, count: 32, into: $0.baseAddress!) } }
        #expect(abs(y[0] - -0.10654449) < 1e-7)
        #expect(y[1] == HalfConversion.float(fromHalf: 0x1932) * 13)
    }

    @Test func quantizeThenDequantizeStaysWithinHalfAStep() {
        var rng = SeededGenerator(seed: 7)
        let x = (0..<256).map { _ in Float.random(in: -3...3, using: &rng) }
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let q = GGMLQuantization.quantize(x, as: type)
            var y = [Float](repeating: 0, count: 256)
            q.withUnsafeBytes { src in y.withUnsafeMutableBufferPointer { GGMLQuantization.dequantize(type, src.baseAddress!, count: 256, into: $0.baseAddress!) } }
            let step: Float = type == .q8_0 ? 3.0 / 127 : 6.0 / 15 * (type == .q4_0 ? 2 : 1)
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(worst <= step * 0.51 + 1e-3, "\(type.name): max error \(worst)")
            // Re-quantizing the dequantized values reproduces the codes.
            #expect(GGMLQuantization.quantize(y, as: type) == q || type != .q8_0, "\(type.name)")
        }
        // Non-finite input does not trap.
        _ = GGMLQuantization.quantize([Float](repeating: .nan, count: 32), as: .q4_0)
        _ = GGMLQuantization.quantize([Float](repeating: .infinity, count: 32), as: .q8_0)
    }

    /// A deterministic test input: [4, 64] floats.
    static func writerInput() -> Tensor {
        Tensor((0..<256).map { i in Float(sin(Double(i) * 0.37) * Double(1 + i / 64)) }, shape: [4, 64])
    }

    static func buildWriterFile() throws -> GGUFWriter {
        var w = GGUFWriter(architecture: "llama")
        w.set("test.u8", .uint8(1))
        w.set("test.i8", .int8(-2))
        w.set("test.u16", .uint16(3))
        w.set("test.i16", .int16(-4))
        w.set("test.u32", .uint32(5))
        w.set("test.i32", .int32(-6))
        w.set("test.f32", .float32(0.5))
        w.set("test.bool", .bool(false))
        w.set("test.string", .string("scion ✓"))
        w.set("test.u64", .uint64(1 << 40))
        w.set("test.i64", .int64(-(1 << 40)))
        w.set("test.f64", .float64(-0.25))
        w.set("test.strings", .array(.string, [.string("x"), .string("yz")]))
        w.set("test.nested", .array(.array, [.array(.float32, [.float32(1), .float32(2)]), .array(.float32, [])]))
        let x = writerInput()
        try w.addTensor(name: "input", tensor: x, type: .f32)
        for type in [GGMLType.f16, .bf16, .q8_0, .q4_0, .q4_1] {
            try w.addTensor(name: type.name.lowercased(), tensor: x, type: type)
        }
        try w.addTensor(name: "cube", tensor: Tensor((0..<192).map(Float.init), shape: [2, 3, 32]), type: .f32)
        return w
    }

    @Test func writeThenReadRoundTrips() throws {
        let w = try Self.buildWriterFile()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/scion.gguf"
        try w.write(to: path)
        if let out = ProcessInfo.processInfo.environment["SCION_GGUF_OUT"] { try w.write(to: out) }
        let file = try GGUFFile(path: path)
        #expect(file.metadataEntries.map(\.key) == w.metadata.map(\.key))
        for (k, v) in w.metadata { #expect(file.metadata[k] == v, "\(k)") }
        #expect(file.tensorNames == ["input", "f16", "bf16", "q8_0", "q4_0", "q4_1", "cube"])
        let x = Self.writerInput().floats()
        #expect(try file.tensor(named: "input").dequantized().floats() == x)
        #expect(try file.tensor(named: "cube").shape == [2, 3, 32])
        #expect(try file.tensor(named: "cube").dimensions == [32, 3, 2])
        for (name, tol) in [("f16", Float(2e-3)), ("bf16", 2e-2), ("q8_0", 2e-2), ("q4_0", 0.5), ("q4_1", 0.3)] {
            let t = try file.tensor(named: name)
            #expect(t.shape == [4, 64])
            let y = try t.dequantized().floats()
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(worst <= tol, "\(name): \(worst)")
            #expect(Array(t.rawData) == GGMLQuantization.quantize(x, as: t.type))
            #expect(t.offset % 32 == 0)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(w.serialize()))
        let summary = try CheckpointSummary.load(path: path)
        #expect(summary.format == .gguf && summary.version == 3 && summary.tensors.count == 7)
        #expect(summary.metadata["test.string"] == .string("scion ✓"))
        let encoded = try JSONEncoder().encode(summary)
        #expect(try JSONDecoder().decode(CheckpointSummary.self, from: encoded).tensors == summary.tensors)
    }

    @Test func writerRejectsBadTensors() {
        var w = GGUFWriter()
        expectCheckpointError("invalidTensorInfo") { try w.addTensor(name: "a", tensor: Tensor([1, 2, 3]), type: .q8_0) }
        expectCheckpointError("invalidTensorInfo") { try w.addTensor(name: "a", tensor: Tensor([Float](repeating: 0, count: 256)), type: .q4_K) }
        expectCheckpointError("byteCountMismatch") { try w.addRawTensor(name: "a", type: .q4_0, shape: [32], bytes: [0]) }
        try? w.addTensor(name: "a", tensor: Tensor([1]), type: .f32)
        expectCheckpointError("duplicateName") { try w.addTensor(name: "a", tensor: Tensor([1]), type: .f32) }
    }

    // MARK: Validation: a lying header gives a typed error.

    /// A header with one KV `k` = u32 7 and one tensor (`t`, given dims/type/offset), then `data` bytes.
    static func oneTensor(dims: [UInt64] = [32], type: UInt32 = 0, offset: UInt64 = 0, dataBytes: Int = 128) -> [UInt8] {
        var b = ByteBuilder()
        b.header(tensors: 1, kvs: 1)
        b.string("k"); b.u32(4); b.u32(7)
        b.string("t"); b.u32(UInt32(dims.count)); for d in dims { b.u64(d) }
        b.u32(type); b.u64(offset)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: dataBytes)
        return b.bytes
    }

    @Test func acceptsMinimalHandBuiltFile() throws {
        let file = try GGUFFile(bytes: Self.oneTensor())
        #expect(file.metadata["k"] == .uint32(7))
        #expect(try file.tensor(named: "t").dequantized().floats() == [Float](repeating: 0, count: 32))
    }

    @Test func rejectsBadMagicAndVersion() {
        expectCheckpointError("badMagic") { _ = try GGUFFile(bytes: Array("GGUX".utf8) + [UInt8](repeating: 0, count: 20)) }
        expectCheckpointError("badMagic") { _ = try GGUFFile(bytes: [0x47]) }
        var b = ByteBuilder()
        b.header(version: 1, tensors: 0, kvs: 0)
        expectCheckpointError("unsupportedVersion") { _ = try GGUFFile(bytes: b.bytes) }
    }

    @Test func rejectsHugeCountsAndLengths() {
        var b = ByteBuilder()
        b.header(tensors: .max, kvs: 0)
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: b.bytes) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1 << 40)
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: b.bytes) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.u64(1 << 60)  // key length
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: b.bytes + [0, 0, 0, 0]) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("arr"); b.u32(9); b.u32(10); b.u64(1 << 50)  // u64 array claiming 2^50 elements
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: b.bytes + [UInt8](repeating: 0, count: 64)) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("s"); b.u32(8); b.u64(.max)  // string value of 2^64 − 1 bytes
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: b.bytes) }
    }

    @Test func rejectsBadMetadata() {
        var b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("k"); b.u32(13); b.u32(0)
        expectCheckpointError("invalidMetadata") { _ = try GGUFFile(bytes: b.bytes) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("deep"); b.u32(9)
        for _ in 0..<20 { b.u32(9); b.u64(1) }  // arrays of arrays of arrays …
        b.u32(0); b.u64(1); b.bytes.append(1)
        expectCheckpointError("invalidMetadata") { _ = try GGUFFile(bytes: b.bytes) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 2)
        b.string("k"); b.u32(0); b.bytes.append(1)
        b.string("k"); b.u32(0); b.bytes.append(2)
        expectCheckpointError("duplicateName") { _ = try GGUFFile(bytes: b.bytes) }
        b = ByteBuilder()
        b.header(tensors: 0, kvs: 1)
        b.string("general.alignment"); b.u32(4); b.u32(24)
        expectCheckpointError("invalidMetadata") { _ = try GGUFFile(bytes: b.bytes) }
    }

    @Test func rejectsBadTensorInfos() {
        expectCheckpointError("unsupportedDType") { _ = try GGUFFile(bytes: Self.oneTensor(type: 99)) }
        expectCheckpointError("invalidTensorInfo") { _ = try GGUFFile(bytes: Self.oneTensor(dims: [1, 1, 1, 1, 1])) }
        expectCheckpointError("invalidTensorInfo") { _ = try GGUFFile(bytes: Self.oneTensor(dims: [33], type: 2)) }  // Q4_0 needs 32 | ne0
        expectCheckpointError("invalidTensorInfo") { _ = try GGUFFile(bytes: Self.oneTensor(offset: 4)) }
        expectCheckpointError("offsetsOutOfBounds") { _ = try GGUFFile(bytes: Self.oneTensor(offset: 64)) }
        expectCheckpointError("offsetsOutOfBounds") { _ = try GGUFFile(bytes: Self.oneTensor(offset: 1 << 62)) }
        expectCheckpointError("offsetsOutOfBounds") { _ = try GGUFFile(bytes: Self.oneTensor(dims: [32, 1 << 40])) }
        expectCheckpointError("invalidTensorInfo") { _ = try GGUFFile(bytes: Self.oneTensor(dims: [0, 1 << 40, 1 << 40])) }
        var b = ByteBuilder()
        b.header(tensors: 2, kvs: 0)
        for _ in 0..<2 { b.string("t"); b.u32(1); b.u64(8); b.u32(0); b.u64(0) }
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 32)
        expectCheckpointError("duplicateName") { _ = try GGUFFile(bytes: b.bytes) }
        expectCheckpointError("truncated") { _ = try GGUFFile(bytes: Array(Self.oneTensor().prefix(40))) }
    }

    @Test func unsupportedTypesOpenButDoNotDequantize() throws {
        let file = try GGUFFile(bytes: Self.oneTensor(dims: [256], type: GGMLType.iq2_XXS.rawValue, dataBytes: 66))
        let t = try file.tensor(named: "t")
        #expect(t.type == .iq2_XXS && t.byteCount == 66)
        expectCheckpointError("unsupportedOperation") { _ = try t.dequantized() }
        expectCheckpointError("tensorNotFound") { _ = try file.tensor(named: "u") }
    }

    // MARK: Real file (gated): SmolLM2-135M-Instruct Q4_1.

    static let smolLM2 = ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"]

    @Test(.enabled(if: smolLM2 != nil, "set SCION_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf"))
    func readsSmolLM2() throws {
        let file = try GGUFFile(path: Self.smolLM2!)
        #expect(file.version == 3)
        #expect(file.metadataEntries.count == 33)
        #expect(file.dataOffset == 1_785_664)
        let m = file.metadata
        #expect(m["general.architecture"]?.stringValue == "llama")
        #expect(m["llama.block_count"]?.intValue == 30)
        #expect(m["llama.context_length"]?.intValue == 8192)
        #expect(m["llama.embedding_length"]?.intValue == 576)
        #expect(m["llama.feed_forward_length"]?.intValue == 1536)
        #expect(m["llama.attention.head_count"]?.intValue == 9)
        #expect(m["llama.attention.head_count_kv"]?.intValue == 3)
        #expect(m["llama.attention.layer_norm_rms_epsilon"] == .float32(1e-5))
        #expect(m["llama.rope.freq_base"] == .float32(100_000))
        #expect(m["llama.rope.dimension_count"]?.intValue == 64)
        #expect(m["llama.vocab_size"]?.intValue == 49152)
        #expect(m["general.file_type"]?.intValue == 3)
        #expect(m["general.quantization_version"]?.intValue == 2)
        #expect(m["tokenizer.ggml.model"]?.stringValue == "gpt2")
        #expect(m["tokenizer.ggml.pre"]?.stringValue == "smollm")
        #expect(m["tokenizer.ggml.tokens"]?.arrayValue?.count == 49152)
        #expect(m["tokenizer.ggml.merges"]?.arrayValue?.count == 48900)
        #expect(m["tokenizer.ggml.token_type"]?.arrayValue?.count == 49152)
        #expect(m["tokenizer.ggml.bos_token_id"]?.intValue == 1)
        #expect(m["tokenizer.ggml.eos_token_id"]?.intValue == 2)
        #expect(m["tokenizer.ggml.unknown_token_id"]?.intValue == 0)
        #expect(m["tokenizer.ggml.padding_token_id"]?.intValue == 2)
        #expect(m["tokenizer.ggml.add_bos_token"] == .bool(false))
        #expect(m["tokenizer.chat_template"]?.stringValue?.contains("<|im_start|>") == true)

        #expect(file.tensors.count == 272)
        #expect(file.tensors.first?.name == "token_embd.weight")
        #expect(file.tensors.last?.name == "output_norm.weight")
        #expect(!file.contains("output.weight"))
        var counts: [GGMLType: Int] = [:]
        for t in file.tensors { counts[t.type, default: 0] += 1 }
        #expect(counts == [.q4_1: 210, .q8_0: 1, .f32: 61])
        let embd = try file.tensor(named: "token_embd.weight")
        #expect(embd.type == .q8_0 && embd.dimensions == [576, 49152] && embd.shape == [49152, 576])
        let shapes: [String: ([Int], GGMLType)] = [
            "attn_norm": ([576], .f32), "ffn_norm": ([576], .f32),
            "ffn_down": ([576, 1536], .q4_1), "ffn_gate": ([1536, 576], .q4_1), "ffn_up": ([1536, 576], .q4_1),
            "attn_k": ([192, 576], .q4_1), "attn_v": ([192, 576], .q4_1),
            "attn_q": ([576, 576], .q4_1), "attn_output": ([576, 576], .q4_1),
        ]
        for layer in 0..<30 {
            for (part, (shape, type)) in shapes {
                let t = try file.tensor(named: "blk.\(layer).\(part).weight")
                #expect(t.shape == shape && t.type == type, "blk.\(layer).\(part)")
            }
        }
        let q = try file.tensor(named: "blk.0.attn_q.weight")
        #expect(Array(q.rawData.prefix(20)) == hexBytes("0f30d8b9458765406f65164b677664502267655a"))
        var row = [Float](repeating: 0, count: 576)
        try row.withUnsafeMutableBufferPointer { try q.dequantizeRow(0, into: $0.baseAddress!) }
        #expect(abs(row[0] - -0.09631348) < 1e-7 && row[3] == -0.73046875 && abs(row[16] - -0.22314453) < 1e-7)
        #expect(Array(embd.rawData.prefix(6)) == hexBytes("3219d60d13f7"))
        try row.withUnsafeMutableBufferPointer { try embd.dequantizeRow(0, into: $0.baseAddress!) }
        #expect(abs(row[0] - -0.10654449) < 1e-7)

        let config = try LlamaGGUF.config(of: file)
        #expect(config == LlamaGGUFConfig(hiddenSize: 576, layerCount: 30, headCount: 9, kvHeadCount: 3, intermediateSize: 1536,
                                      vocabSize: 49152, ropeTheta: 100_000, rmsNormEpsilon: Double(Float(1e-5)),
                                      contextLength: 8192, tieWordEmbeddings: true))
        // The un-permuted HF q_proj row 1 is GGUF row 2 (head 0: HF rows (2, 32) ↔ GGUF rows (32, 2)).
        let hfQ = LlamaGGUF.unpermuteFromGGUF(try q.dequantized(), headCount: 9)
        let g = try q.dequantized()
        #expect(hfQ.floats()[576..<1152] == g.floats()[1152..<1728])
        // The whole model as HF tensors: 272 GGUF tensors → 272 HF names (tied embeddings, no lm_head).
        let hfModel = try LlamaGGUF.load(file)
        #expect(hfModel.tensors.count == 272 && hfModel.unmappedTensorNames.isEmpty && hfModel.tensors["lm_head.weight"] == nil)
        #expect(hfModel.tensors["model.layers.0.self_attn.q_proj.weight"]?.floats() == hfQ.floats())
        #expect(hfModel.tensors["model.layers.29.self_attn.k_proj.weight"]?.shape == [192, 576])
        let summary = try CheckpointSummary.load(path: Self.smolLM2!)
        #expect(summary.parameterCount == 134_515_008)
    }
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}
