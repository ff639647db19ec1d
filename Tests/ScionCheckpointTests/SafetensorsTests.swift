// safetensors reader and writer: the all-dtypes fixture (written by the `safetensors` package),
// write → read byte identity, sharded folders, each malformed-header case, and the MiniLM file (gated).

import Foundation
import Testing
import ScionTensor
@testable import ScionCheckpoint

@Suite struct SafetensorsTests {
    @Test func readsEveryDTypeFromReferenceFixture() throws {
        let file = try SafetensorsFile(path: Fixtures.path("all_dtypes.safetensors"))
        let expected = try Fixtures.json("all_dtypes.json")
        #expect(file.metadata == ["format": "pt", "note": "scion fixture"])
        let tensors = expected["tensors"] as! [String: [String: Any]]
        #expect(Set(file.tensorNames) == Set(tensors.keys))
        for (name, e) in tensors {
            let info = try file.info(named: name)
            #expect(info.dtype.rawValue == e["dtype"] as! String, "\(name)")
            #expect(info.shape == e["shape"] as! [Int], "\(name)")
            let hex = try file.rawBytes(named: name).map { String(format: "%02x", $0) }.joined()
            #expect(hex == e["hex"] as! String, "\(name)")
            let values = (e["values"] as! [NSNumber])
            let t = try file.tensor(named: name)
            #expect(t.shape == info.shape)
            if info.dtype == .i64 || info.dtype == .i32 || info.dtype == .i16 || info.dtype == .i8 {
                // Integers compared exactly (an I64 beyond 2^53 must survive).
                if info.dtype == .i64 {
                    let raw = try file.rawBytes(named: name)
                    let ints = stride(from: 0, to: raw.count, by: 8).map { i in
                        raw[i..<i + 8].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
                    }
                    #expect(ints == values.map { $0.int64Value }, "\(name)")
                } else {
                    #expect(t.dtype == .int32)
                    #expect(t.ints() == values.map { $0.intValue }, "\(name)")
                }
            } else {
                let f = try file.floatTensor(named: name).floats()
                #expect(f == values.map { $0.floatValue }, "\(name)")
            }
        }
        #expect(try file.tensor(named: "i64").dtype == .int64)
        #expect(try file.tensor(named: "bf16").dtype == .bfloat16)
        #expect(try file.floatTensor(named: "i8").floats() == [-128, -1, 0, 127])
    }

    @Test func writeThenReadIsByteIdentical() throws {
        let reference = try SafetensorsFile(path: Fixtures.path("all_dtypes.safetensors"))
        let entries = try reference.tensors.map {
            SafetensorsEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: try reference.rawBytes(named: $0.name))
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out.safetensors"
        try SafetensorsWriter.write(entries: entries, metadata: reference.metadata, to: path)
        let back = try SafetensorsFile(path: path)
        #expect(back.metadata == reference.metadata)
        #expect(Set(back.tensorNames) == Set(reference.tensorNames))
        for info in reference.tensors {
            #expect(try back.rawBytes(named: info.name) == reference.rawBytes(named: info.name))
            #expect(try back.info(named: info.name).shape == info.shape)
        }
        #expect(back.dataStart % 8 == 0)
        // Writing what we read again gives the same file, byte for byte.
        let again = dir + "/again.safetensors"
        try SafetensorsWriter.write(entries: try back.tensors.map {
            SafetensorsEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: try back.rawBytes(named: $0.name))
        }, metadata: back.metadata, to: again)
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: path)))
        // No temporary files left behind by the atomic writer.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["again.safetensors", "out.safetensors"])
    }

    @Test func tensorsWrittenFromScionTensorsReadBackZeroCopy() throws {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor(indices: [7, 8, 9])
        let bytes = try SafetensorsWriter.serialize(entries: [SafetensorsEntry(name: "a", tensor: a),
                                                              SafetensorsEntry(name: "b", tensor: b)],
                                                    metadata: ["k": "v \"quoted\""])
        let file = try SafetensorsFile(bytes: bytes)
        #expect(file.metadata == ["k": "v \"quoted\""])
        let ra = try file.tensor(named: "a")
        #expect(ra.floats() == a.floats() && ra.shape == [2, 3])
        #expect(ra.storage === file.region.storage)  // a view over the region, not a copy
        #expect(try file.tensor(named: "b").ints() == [7, 8, 9])
    }

    @Test func shardedFolderResolvesTensorsThroughIndex() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafetensorsWriter.write(["x": Tensor([1, 2]), "y": Tensor([3])], to: dir + "/model-00001-of-00002.safetensors")
        try SafetensorsWriter.write(["z": Tensor([4, 5, 6])], to: dir + "/model-00002-of-00002.safetensors")
        let index = #"{"metadata": {"total_size": 24}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let ckpt = try SafetensorsCheckpoint(path: dir)
        #expect(ckpt.tensorNames == ["x", "y", "z"])
        #expect(try ckpt.tensor(named: "z").floats() == [4, 5, 6])
        #expect(ckpt.indexMetadata["total_size"] == .int(24))
        let summary = try CheckpointSummary.load(path: dir)
        #expect(summary.format == .safetensors && summary.tensors.count == 3 && summary.parameterCount == 6)
        expectCheckpointError("tensorNotFound") { _ = try ckpt.tensor(named: "w") }

        let bad = #"{"weight_map": {"x": "model-00002-of-00002.safetensors"}}"#
        try Data(bad.utf8).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        expectCheckpointError("tensorNotFound") { _ = try SafetensorsCheckpoint(path: dir) }
    }

    // MARK: Validation: one malformed case per error.

    @Test func rejectsFileShorterThanHeaderLength() {
        expectCheckpointError("truncated") { _ = try SafetensorsFile(bytes: [1, 2, 3]) }
    }

    @Test func rejectsHeaderLengthBeyondFile() {
        expectCheckpointError("headerLengthOutOfRange") { _ = try SafetensorsFile(bytes: safetensorsBytes("{}", headerLength: 1000)) }
        expectCheckpointError("headerLengthOutOfRange") { _ = try SafetensorsFile(bytes: safetensorsBytes("{}", headerLength: .max)) }
    }

    @Test(arguments: ["{", "[]", "{\"a\":}", "{\"a\":1,}", "{} x", "{\"a\":\"\\q\"}", "nul"])
    func rejectsBadJSON(_ header: String) {
        expectCheckpointError("invalidJSON") { _ = try SafetensorsFile(bytes: safetensorsBytes(header)) }
    }

    @Test func rejectsOffsetsOutsideData() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        expectCheckpointError("offsetsOutOfBounds") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [0, 0, 0, 0])) }
    }

    @Test func rejectsOverlappingRanges() {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectCheckpointError("rangeNotContiguous") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [UInt8](repeating: 0, count: 8))) }
    }

    @Test func rejectsGapBetweenRanges() {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expectCheckpointError("rangeNotContiguous") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [UInt8](repeating: 0, count: 12))) }
    }

    @Test func acceptsRangesListedOutOfOrderButRejectsTrailingBytes() throws {
        let h = #"{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        let file = try SafetensorsFile(bytes: safetensorsBytes(h, data: [5, 6]))
        #expect(file.tensorNames == ["a", "b"])
        expectCheckpointError("trailingData") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [5, 6, 7])) }
    }

    @Test func rejectsDTypeShapeByteLengthMismatch() {
        let h = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        expectCheckpointError("byteCountMismatch") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [UInt8](repeating: 0, count: 8))) }
    }

    @Test func rejectsDuplicateNames() {
        let h = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        expectCheckpointError("duplicateName") { _ = try SafetensorsFile(bytes: safetensorsBytes(h, data: [1, 2])) }
    }

    @Test func rejectsNonStringMetadata() {
        expectCheckpointError("invalidMetadata") { _ = try SafetensorsFile(bytes: safetensorsBytes(#"{"__metadata__":{"n":1}}"#)) }
        expectCheckpointError("invalidMetadata") { _ = try SafetensorsFile(bytes: safetensorsBytes(#"{"__metadata__":[]}"#)) }
    }

    @Test func rejectsUnknownDTypeAndBadShapes() {
        let unknown = #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#
        expectCheckpointError("unsupportedDType") { _ = try SafetensorsFile(bytes: safetensorsBytes(unknown, data: [0])) }
        let negative = #"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#
        expectCheckpointError("invalidTensorInfo") { _ = try SafetensorsFile(bytes: safetensorsBytes(negative, data: [0])) }
        let huge = #"{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#
        expectCheckpointError("invalidTensorInfo") { _ = try SafetensorsFile(bytes: safetensorsBytes(huge)) }
        let reversed = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#
        expectCheckpointError("invalidTensorInfo") { _ = try SafetensorsFile(bytes: safetensorsBytes(reversed, data: [0])) }
    }

    @Test func writerRejectsBadEntries() {
        expectCheckpointError("byteCountMismatch") {
            _ = try SafetensorsWriter.serialize(entries: [SafetensorsEntry(name: "a", dtype: .f32, shape: [2], bytes: [0, 0, 0, 0])])
        }
    }

    // MARK: Real file (gated): all-MiniLM-L6-v2.

    static let miniLMDirectory = ProcessInfo.processInfo.environment["SCION_MINILM_DIR"]

    @Test(.enabled(if: miniLMDirectory != nil, "set SCION_MINILM_DIR to the all-MiniLM-L6-v2 model folder"))
    func readsMiniLM() throws {
        let ckpt = try SafetensorsCheckpoint(path: Self.miniLMDirectory!)
        let file = ckpt.files[0]
        #expect(file.metadata["format"] == "pt")
        #expect(file.dataStart == 8 + 11_408)
        let ids = try ckpt.info(named: "embeddings.position_ids")
        #expect(ids.dtype == .i64 && ids.shape == [1, 512])
        #expect(try ckpt.tensor(named: "embeddings.position_ids").ints() == Array(0..<512))
        #expect(try ckpt.info(named: "embeddings.word_embeddings.weight").shape == [30522, 384])
        #expect(try ckpt.info(named: "encoder.layer.0.intermediate.dense.weight").shape == [1536, 384])
        #expect(try ckpt.info(named: "encoder.layer.5.output.dense.weight").shape == [384, 1536])
        #expect(try ckpt.info(named: "pooler.dense.weight").shape == [384, 384])
        for layer in 0..<6 {
            for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                #expect(try ckpt.info(named: "encoder.layer.\(layer).\(part).weight").shape == [384, 384])
            }
        }
        // NOTE: FORMATS.md §1 says 22,713,728 "not counting position_ids"; safetensors' own count says the
        // 22,713,728 includes the 512 position ids (22,713,216 float parameters).
        let floatParams = file.tensors.filter { $0.dtype == .f32 }.reduce(0) { $0 + $1.elementCount }
        #expect(floatParams == 22_713_216)
        #expect(file.tensors.reduce(0) { $0 + $1.elementCount } == 22_713_728)
        #expect(file.tensors.allSatisfy { $0.dtype == .f32 || $0.name == "embeddings.position_ids" })
        let ln = try ckpt.tensor(named: "embeddings.LayerNorm.weight")
        #expect(ln.shape == [384] && ln.floats().allSatisfy { $0.isFinite })
    }
}
