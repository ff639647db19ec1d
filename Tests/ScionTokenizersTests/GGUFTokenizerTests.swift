// Tokenizers built from GGUF tokenizer metadata (no GGUF reader involved).
// gguf_smollm / gguf_llama are derived from the gpt2 / llama2 fixtures; smollm2 is the real
// SmolLM2-135M vocabulary dumped from its GGUF by Scripts/fixtures/make_tokenizer_fixtures.py.

import Foundation
import Testing

@testable import ScionTokenizers

func ggufMetadata(_ o: [String: Any]) throws -> GGUFTokenizerMetadata {
    GGUFTokenizerMetadata(
        model: try #require(o["model"] as? String), pre: o["pre"] as? String,
        tokens: try #require(o["tokens"] as? [String]),
        tokenTypes: (o["token_type"] as? [Int])?.map { Int32($0) }, merges: o["merges"] as? [String],
        scores: (o["scores"] as? [Double])?.map { Float($0) }, bosTokenID: o["bos_token_id"] as? Int,
        eosTokenID: o["eos_token_id"] as? Int, unknownTokenID: o["unknown_token_id"] as? Int,
        paddingTokenID: o["padding_token_id"] as? Int, addBOS: o["add_bos_token"] as? Bool ?? false,
        addEOS: o["add_eos_token"] as? Bool ?? false, addSpacePrefix: o["add_space_prefix"] as? Bool ?? false)
}

func smolLM2Metadata() throws -> GGUFTokenizerMetadata? {
    var url = Fixtures.url("smollm2", "gguf_tokens.json")
    if !FileManager.default.fileExists(atPath: url.path) {
        guard let p = Fixtures.environment("SCION_SMOLLM2_GGUF_TOKENS") else { return nil }
        url = URL(fileURLWithPath: p)
    }
    let o = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    return try ggufMetadata(o)
}

@Suite struct GGUFTokenizerTests {
    @Test(arguments: ["gguf_smollm", "gguf_llama"])
    func matchesReference(name: String) throws {
        let (cases, root) = try Fixtures.expected(name)
        let meta = try ggufMetadata(try #require(root["gguf"] as? [String: Any]))
        let tokenizer = try Tokenizer(gguf: meta)
        checkAgainstReference(tokenizer, cases)
    }

    static let hasSmolLM2 = (try? smolLM2Metadata()) != nil

    @Test(.enabled(if: hasSmolLM2)) func smolLM2KnownIDs() throws {
        let meta = try #require(try smolLM2Metadata())
        #expect(meta.model == "gpt2" && meta.pre == "smollm" && meta.tokens.count == 49152)
        let tokenizer = try Tokenizer(gguf: meta)
        #expect(tokenizer.encode("The capital of France is").ids == [504, 3575, 282, 4649, 314])
        #expect(tokenizer.encode("In 1889, 42 people paid $3.50 each.").ids ==
                [788, 216, 33, 40, 40, 41, 28, 216, 36, 34, 701, 5940, 1885, 35, 30, 37, 32, 971, 30])
        let (cases, _) = try Fixtures.expected("smollm2")
        checkAgainstReference(tokenizer, cases)
    }

    @Test(.enabled(if: Fixtures.environment("SCION_SMOLLM2_TOKENIZER_JSON") != nil))
    func smolLM2TokenizerJSON() throws {
        let path = try #require(Fixtures.environment("SCION_SMOLLM2_TOKENIZER_JSON"))
        let tokenizer = try Tokenizer(contentsOf: URL(fileURLWithPath: path))
        let (cases, _) = try Fixtures.expected("smollm2")
        checkAgainstReference(tokenizer, cases)
    }

    @Test func unknownNamesAreUnsupported() throws {
        #expect(throws: TokenizerError.unsupported(component: "tokenizer.ggml.model", name: "rwkv")) {
            try Tokenizer(gguf: GGUFTokenizerMetadata(model: "rwkv", tokens: ["a"]))
        }
        #expect(throws: TokenizerError.unsupported(component: "tokenizer.ggml.pre", name: "made-up")) {
            try Tokenizer(gguf: GGUFTokenizerMetadata(model: "gpt2", pre: "made-up", tokens: ["a"], merges: []))
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(gguf: GGUFTokenizerMetadata(model: "llama", tokens: ["a", "b"], scores: [0]))
        }
    }
}
