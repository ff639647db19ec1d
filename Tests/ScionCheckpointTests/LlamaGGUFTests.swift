// GGUF ↔ HF llama mapping: names both ways, the Q/K permutation and its inverse, and a tiny random
// llama written as GGUF (permuted like llama.cpp's converter) that loads back to the exact HF tensors.

import Foundation
import Testing
import ScionTensor
@testable import ScionCheckpoint

@Suite struct LlamaGGUFTests {
    @Test func namesMapBothWays() {
        let pairs = [
            ("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),
            ("blk.12.ffn_norm.weight", "model.layers.12.post_attention_layernorm.weight"),
            ("blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"),
            ("blk.3.attn_k.bias", "model.layers.3.self_attn.k_proj.bias"),
            ("blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"),
            ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"),
            ("blk.29.ffn_gate.weight", "model.layers.29.mlp.gate_proj.weight"),
            ("blk.29.ffn_up.weight", "model.layers.29.mlp.up_proj.weight"),
            ("blk.29.ffn_down.weight", "model.layers.29.mlp.down_proj.weight"),
        ]
        for (gguf, hf) in pairs {
            #expect(LlamaGGUF.hfName(forGGUF: gguf) == hf)
            #expect(LlamaGGUF.ggufName(forHF: hf) == gguf)
        }
        for unknown in ["rope_freqs.weight", "blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.0.attn_q", "foo"] {
            #expect(LlamaGGUF.hfName(forGGUF: unknown) == nil, "\(unknown)")
        }
        #expect(LlamaGGUF.ggufName(forHF: "model.layers.0.self_attn.rotary_emb.inv_freq") == nil)
    }

    @Test func permutationMatchesConverterOnSmallExample() {
        // One head of size 4, HF rows r0 r1 r2 r3: rotate-half pairs (r0, r2), (r1, r3) become adjacent.
        let w = Tensor([0, 1, 2, 3], shape: [4, 1])
        #expect(LlamaGGUF.permuteForGGUF(w, headCount: 1).floats() == [0, 2, 1, 3])
        let two = Tensor((0..<8).map(Float.init), shape: [8])
        #expect(LlamaGGUF.permuteForGGUF(two, headCount: 2).floats() == [0, 2, 1, 3, 4, 6, 5, 7])
        // Head size 6: (2, 3) → (3, 2).
        let six = Tensor((0..<6).map(Float.init), shape: [6])
        #expect(LlamaGGUF.permuteForGGUF(six, headCount: 1).floats() == [0, 3, 1, 4, 2, 5])
        #expect(LlamaGGUF.unpermuteFromGGUF(Tensor([0, 3, 1, 4, 2, 5]), headCount: 1).floats() == [0, 1, 2, 3, 4, 5])
    }

    @Test(arguments: [(1, 64), (9, 576), (3, 192), (4, 32)])
    func permutationInverseRoundTrips(heads: Int, rows: Int) {
        var rng = SeededGenerator(seed: UInt64(heads * 1000 + rows))
        let w = Tensor((0..<rows * 5).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [rows, 5])
        let p = LlamaGGUF.permuteForGGUF(w, headCount: heads)
        #expect(p.shape == w.shape)
        #expect(LlamaGGUF.unpermuteFromGGUF(p, headCount: heads).floats() == w.floats())
        #expect(LlamaGGUF.permuteForGGUF(LlamaGGUF.unpermuteFromGGUF(w, headCount: heads), headCount: heads).floats() == w.floats())
    }

    @Test func tinyLlamaGGUFLoadsToHFTensors() throws {
        let hidden = 64, heads = 4, kvHeads = 2, ffn = 96, vocab = 40, layers = 2
        let headDim = hidden / heads
        var rng = SeededGenerator(seed: 42)
        func random(_ shape: [Int]) -> Tensor {
            Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
        }
        var hf: [String: Tensor] = ["model.embed_tokens.weight": random([vocab, hidden]), "model.norm.weight": random([hidden])]
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            hf[p + "input_layernorm.weight"] = random([hidden])
            hf[p + "post_attention_layernorm.weight"] = random([hidden])
            hf[p + "self_attn.q_proj.weight"] = random([hidden, hidden])
            hf[p + "self_attn.k_proj.weight"] = random([kvHeads * headDim, hidden])
            hf[p + "self_attn.v_proj.weight"] = random([kvHeads * headDim, hidden])
            hf[p + "self_attn.o_proj.weight"] = random([hidden, hidden])
            hf[p + "mlp.gate_proj.weight"] = random([ffn, hidden])
            hf[p + "mlp.up_proj.weight"] = random([ffn, hidden])
            hf[p + "mlp.down_proj.weight"] = random([hidden, ffn])
        }
        var w = GGUFWriter(architecture: "llama")
        w.set("llama.block_count", .uint32(UInt32(layers)))
        w.set("llama.context_length", .uint32(128))
        w.set("llama.embedding_length", .uint32(UInt32(hidden)))
        w.set("llama.feed_forward_length", .uint32(UInt32(ffn)))
        w.set("llama.attention.head_count", .uint32(UInt32(heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.set("llama.rope.freq_base", .float32(10_000))
        w.set("llama.vocab_size", .uint32(UInt32(vocab)))
        for (name, t) in hf.sorted(by: { $0.key < $1.key }) {
            var stored = t
            if name.hasSuffix("q_proj.weight") { stored = LlamaGGUF.permuteForGGUF(t, headCount: heads) }
            if name.hasSuffix("k_proj.weight") { stored = LlamaGGUF.permuteForGGUF(t, headCount: kvHeads) }
            try w.addTensor(name: LlamaGGUF.ggufName(forHF: name)!, tensor: stored, type: .f32)
        }
        try w.addTensor(name: "rope_freqs.weight", tensor: Tensor([1, 1]), type: .f32)
        let file = try GGUFFile(bytes: w.serialize(), label: "tiny-llama")
        let loaded = try LlamaGGUF.load(file)
        #expect(loaded.config == LlamaGGUFConfig(hiddenSize: hidden, layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
                                             intermediateSize: ffn, vocabSize: vocab, ropeTheta: 10_000,
                                             rmsNormEpsilon: Double(Float(1e-6)), contextLength: 128, tieWordEmbeddings: true))
        #expect(loaded.config.headDimension == headDim)
        #expect(loaded.unmappedTensorNames == ["rope_freqs.weight"])
        #expect(Set(loaded.tensors.keys) == Set(hf.keys))
        for (name, t) in hf {
            #expect(loaded.tensors[name]?.shape == t.shape, "\(name)")
            #expect(loaded.tensors[name]?.floats() == t.floats(), "\(name)")
        }
    }

    @Test func configReportsMissingAndMistypedKeys() throws {
        var w = GGUFWriter(architecture: "llama")
        w.set("llama.block_count", .uint32(1))
        let missing = try GGUFFile(bytes: w.serialize())
        expectCheckpointError("missingMetadata") { _ = try LlamaGGUF.config(of: missing) }
        w.set("llama.attention.head_count", .string("nine"))
        let mistyped = try GGUFFile(bytes: w.serialize())
        expectCheckpointError("invalidMetadata") { _ = try LlamaGGUF.config(of: mistyped) }
    }
}
