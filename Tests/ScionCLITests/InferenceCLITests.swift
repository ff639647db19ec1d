// The inference commands (generate, chat, eval perplexity, embed) reject bad arguments with a
// message before loading anything, and name a missing model path. No model is needed.

import Foundation
import Testing

@Suite struct InferenceCLITests {
    @Test(arguments: [
        (["generate", "--model", "/no/model", "--prompt", "hi", "--temperature", "-1"], "temperature"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--top-p", "0"], "top-p"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--top-k", "-2"], "top-k"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--min-p", "2"], "min-p"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--repetition-penalty", "0"], "repetition-penalty"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--max-tokens", "0"], "--max-tokens must be at least 1"),
        (["generate", "--model", "/no/model", "--prompt", ""], "--prompt must not be empty"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--stop", ""], "--stop must not be empty"),
        (["generate", "--prompt", "hi"], "--model"),
        (["chat", "--model", "/no/model", "--max-tokens", "0"], "--max-tokens must be at least 1"),
        (["eval", "perplexity", "--model", "/no/model", "--file", "x", "--context", "1"], "--context must be at least 2"),
        (["eval", "perplexity", "--model", "/no/model", "--file", "x", "--context", "8", "--stride", "9"],
         "--stride must not exceed --context"),
        (["eval", "perplexity", "--model", "/no/model", "--file", "x", "--stride", "0"], "--stride must be at least 1"),
        (["embed", "--model", "/no/model"], "exactly one of --text or --file"),
        (["embed", "--model", "/no/model", "--text", "a", "--file", "b"], "exactly one of --text or --file"),
        (["generate", "--model", "/no/model", "--prompt", "hi", "--threads", "0"], "--threads must be at least 1"),
        (["chat", "--model", "/no/model", "--threads=-1"], "--threads must be at least 1"),
        (["eval", "perplexity", "--model", "/no/model", "--file", "x", "--threads", "0"], "--threads must be at least 1"),
        (["embed", "--model", "/no/model", "--text", "a", "--threads", "0"], "--threads must be at least 1"),
    ])
    func badArgumentsFailWithAMessage(arguments: [String], message: String) throws {
        let r = try runScion(arguments)
        #expect(r.status != 0)
        #expect(r.err.contains(message), "stderr: \(r.err)")
    }

    @Test func missingModelIsNamed() throws {
        let g = try runScion(["generate", "--model", "/no/such/model", "--prompt", "hi", "--json"])
        #expect(g.status != 0)
        #expect(g.err.contains("/no/such/model"), "stderr: \(g.err)")
        let file = fixtures.appendingPathComponent("tokenizers/corpus.txt").path
        let p = try runScion(["eval", "perplexity", "--model", "/no/such/model", "--file", file])
        #expect(p.status != 0)
        #expect(p.err.contains("/no/such/model"), "stderr: \(p.err)")
        let missingFile = try runScion(["eval", "perplexity", "--model", "/no/such/model", "--file", "/no/such/file.txt"])
        #expect(missingFile.err.contains("cannot read --file /no/such/file.txt"))
        let e = try runScion(["embed", "--model", "/no/such/model", "--text", "x"])
        #expect(e.status != 0)
        #expect(e.err.contains("/no/such/model"), "stderr: \(e.err)")
    }

    @Test func commandsAreListedInHelp() throws {
        let r = try runScion(["--help"])
        for name in ["generate", "chat", "eval", "embed"] { #expect(r.out.contains(name)) }
        let h = try runScion(["generate", "--help"])
        for option in ["--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed", "--stop", "--chat", "--json"] {
            #expect(h.out.contains(option))
        }
    }
}
