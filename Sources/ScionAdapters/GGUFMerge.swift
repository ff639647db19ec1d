// Writing a merged Llama-family model back as GGUF: `scion adapter merge` on a GGUF base produces a GGUF
// file (not a safetensors folder), so a quantized model stays quantized and llama.cpp loads the result.
// Every tensor and metadata entry of the base file is copied as is, except the weights (and biases) of
// the modules the adapter was merged into, which are written in their original GGUF type:
//   • Q8_0/Q4_0/Q4_1: the re-quantized merged blocks (`Injection.merge` re-quantizes; QuantizedMerge),
//     copied raw, so the file holds exactly the model in memory;
//   • F32/F16/BF16: the float merged weight converted to that type;
//   • other types (K-quants, Q5_x, which Scion dequantizes on load) cannot be written: an error names them.
// Q and K rows go back to llama.cpp's interleaved rotary order. A merged token embedding that the head
// shares (no `output.weight`) gets an explicit `output.weight` with the base embedding, so the head keeps
// the base weights as it does in memory. Written atomically (GGUFWriter).
// Reference: llama.cpp's convert_hf_to_gguf.py (tensor names, Q/K permutation) and gguf.md (format).

import Foundation
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

/// GGUF output for merged models.
public enum GGUFMerge {
    /// For GGUF row g of a Q or K matrix of `rows` rows in `heads` heads, the HF row holding it
    /// (within a head of D rows, GGUF row 2i + j is HF row j·D/2 + i).
    static func hfRowForGGUFRow(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var order = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for i in 0..<half { for j in 0..<2 { order[h * d + 2 * i + j] = h * d + j * half + i } }
        }
        return order
    }

    /// Writes `base` to `path` with the current weights of `modules` (HF module keys of `model`, a
    /// Llama-family model loaded from `base` whose adapter was merged) in place of the base tensors.
    ///
    /// - Returns: The GGUF tensor names written from the model.
    /// - Throws: ``AdapterError/invalidConfig(method:rule:)`` naming a module without a GGUF tensor,
    ///   a tensor type that cannot be written, or a shape that does not match; I/O errors.
    @discardableResult
    public static func write(model: any Module, modules: [String], base: GGUFFile, to path: String) throws -> [String] {
        func fail(_ rule: String) -> AdapterError { .invalidConfig(method: "merge", rule: rule) }
        let config = try LlamaGGUF.config(of: base)
        let layers = Dictionary(Injection.adaptableLayers(of: model), uniquingKeysWith: { a, _ in a })
        var replaced: [String: (type: GGMLType, shape: [Int], bytes: [UInt8])] = [:]
        var headKeepsBaseEmbedding = false

        func encode(_ name: String, dense: Tensor, type: GGMLType) throws -> [UInt8] {
            guard GGMLQuantization.quantizableTypes.contains(type) else {
                throw fail("\(name) is \(type.name) in the base file, which Scion cannot write; merge into an HF folder base instead")
            }
            return GGMLQuantization.quantize(dense.cast(.float32).contiguous().floats(), as: type)
        }

        for key in modules {
            guard let layer = layers[key] else { throw fail("\(key) is not a Linear or Embedding module of the model") }
            guard let name = LlamaGGUF.ggufName(forHF: key + ".weight"), let t = try? base.tensor(named: name) else {
                throw fail("\(key) has no tensor in \(base.path)")
            }
            let heads = name.contains(".attn_q.") ? config.headCount : name.contains(".attn_k.") ? config.kvHeadCount : 0
            let weight: Weight
            if let l = layer as? Linear { weight = l.weight } else if let e = layer as? Embedding { weight = e.weight } else { continue }
            var bytes: [UInt8]
            switch weight {
            case .quantized(let q) where QuantizedMerge.ggmlType(q.format) == t.type:
                let rows = heads > 0 ? q.rowsPermuted(hfRowForGGUFRow(rows: q.rows, heads: heads)) : q
                bytes = rows.blockBytes
            case .quantized(let q):
                var w = q.dequantized()
                if heads > 0 { w = LlamaGGUF.permuteForGGUF(w, headCount: heads) }
                bytes = try encode(name, dense: w, type: t.type)
            case .dense(let p):
                var w = p.value.detached()
                if let l = layer as? Linear, l.layout == .inOut { w = w.matrixTransposed.contiguous() }
                if heads > 0 { w = LlamaGGUF.permuteForGGUF(w, headCount: heads) }
                bytes = try encode(name, dense: w, type: t.type)
            }
            guard bytes.count == t.byteCount else {
                throw fail("\(key): the merged weight does not have the base tensor's shape \(t.shape)")
            }
            replaced[name] = (t.type, t.shape, bytes)
            if let l = layer as? Linear, let b = l.bias, let bname = LlamaGGUF.ggufName(forHF: key + ".bias"),
               let bt = try? base.tensor(named: bname) {
                let v = heads > 0 ? LlamaGGUF.permuteForGGUF(b.value.detached(), headCount: heads) : b.value.detached()
                replaced[bname] = (bt.type, bt.shape, try encode(bname, dense: v, type: bt.type))
            }
            if layer is Embedding && !base.contains("output.weight") { headKeepsBaseEmbedding = true }
        }

        var writer = GGUFWriter()
        for (k, v) in base.metadataEntries { writer.set(k, v) }
        for t in base.tensors {
            if let r = replaced[t.name] {
                try writer.addRawTensor(name: t.name, type: r.type, shape: r.shape, bytes: r.bytes)
            } else {
                try writer.addRawTensor(name: t.name, type: t.type, shape: t.shape, bytes: [UInt8](t.rawData))
            }
        }
        if headKeepsBaseEmbedding, let e = try? base.tensor(named: "token_embd.weight") {
            try writer.addRawTensor(name: "output.weight", type: e.type, shape: e.shape, bytes: [UInt8](e.rawData))
        }
        try writer.write(to: path)
        return replaced.keys.sorted()
    }
}

extension Injection {
    /// Keys of the modules (Linear or Embedding) that have an active adapter, in model order.
    public static func adaptedModuleKeys(in model: any Module) -> [String] {
        adaptableLayers(of: model).filter { activeAdapterObject($0.1) != nil }.map(\.0)
    }
}
