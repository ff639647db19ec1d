// Golden tests for ChatTemplate: renders every fixture case and compares with jinja2.
// Fixtures come from Scripts/fixtures/make_chat_template_fixtures.py, which renders the
// templates in Tests/Fixtures/chat_templates exactly as transformers' apply_chat_template
// does (Jinja2 semantics, trim_blocks and lstrip_blocks on). Also covers loading templates
// from tokenizer_config.json and GGUF metadata.

import Foundation
import Testing

@testable import ScionTokenizers

/// One rendering recorded by the fixture script.
struct ChatTemplateFixtureCase: Sendable, CustomTestStringConvertible {
    var template: String
    var conversation: String
    var messages: [ChatMessage]
    var addGenerationPrompt: Bool
    var tools: [JinjaValue]?
    var extra: [String: JinjaValue]
    var bosToken: String
    var eosToken: String
    var expected: String?
    var errorType: String?
    var errorMessage: String?

    var testDescription: String {
        "\(template) \(conversation) agp=\(addGenerationPrompt)\(tools == nil ? "" : " tools")\(extra.isEmpty ? "" : " extra")"
    }
}

enum ChatTemplateFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat_templates")

    static func source(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    static func loadCases() throws -> [ChatTemplateFixtureCase] {
        let data = try Data(contentsOf: directory.appendingPathComponent("cases.json"))
        guard case .object(let root) = try JinjaValue(jsonData: data), case .array(let cases)? = root["cases"] else {
            throw ChatTemplateError.invalidJSON(reason: "cases.json has no cases")
        }
        return cases.compactMap { value in
            guard case .object(let c) = value, case .array(let messages)? = c["messages"] else { return nil }
            var error: JinjaObject? = nil
            if case .object(let e)? = c["error"] { error = e }
            var tools: [JinjaValue]? = nil
            if case .array(let t)? = c["tools"] { tools = t }
            var extra: [String: JinjaValue] = [:]
            if case .object(let e)? = c["extra"] { for (k, v) in e.entries { extra[k] = v } }
            return ChatTemplateFixtureCase(
                template: c["template"]?.stringValue ?? "",
                conversation: c["conversation"]?.stringValue ?? "",
                messages: messages.compactMap { m in
                    if case .object(let fields) = m { return ChatMessage(fields: fields) }
                    return nil
                },
                addGenerationPrompt: c["add_generation_prompt"] == .bool(true),
                tools: tools,
                extra: extra,
                bosToken: c["bos_token"]?.stringValue ?? "",
                eosToken: c["eos_token"]?.stringValue ?? "",
                expected: c["expected"]?.stringValue,
                errorType: error?["type"]?.stringValue,
                errorMessage: error?["message"]?.stringValue)
        }
    }

    static let cases: [ChatTemplateFixtureCase] = (try? loadCases()) ?? []
}

@Suite struct ChatTemplateTests {
    @Test func fixturesAreLoaded() {
        #expect(ChatTemplateFixtures.cases.count >= 250)
    }

    @Test(arguments: ChatTemplateFixtures.cases)
    func rendersLikeJinja2(_ fixture: ChatTemplateFixtureCase) throws {
        let template = try ChatTemplate(source: try ChatTemplateFixtures.source(fixture.template))
        let render = {
            try template.render(
                messages: fixture.messages, addGenerationPrompt: fixture.addGenerationPrompt,
                bosToken: fixture.bosToken, eosToken: fixture.eosToken, tools: fixture.tools, extra: fixture.extra)
        }
        if let expected = fixture.expected {
            let output = try render()
            #expect(output == expected)
        } else if fixture.errorType == "raised" {
            #expect(throws: ChatTemplateError.raised(message: fixture.errorMessage ?? "")) { try render() }
        } else {
            // Python-level errors (TypeError, UndefinedError…) only need to be some typed error.
            #expect(throws: ChatTemplateError.self) { try render() }
        }
    }

    @Test func smolLM2RendersAsPublished() throws {
        let template = try ChatTemplate(source: try ChatTemplateFixtures.source("chatml_smollm2.jinja"))
        let text = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(text == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func dictionaryMessagesRender() throws {
        let template = try ChatTemplate(source: "{% for m in messages %}{{ m.role }}={{ m['content'] }};{% endfor %}")
        let text = try template.render(messages: [["role": "user", "content": "a"], ["content": "b", "role": "assistant"]])
        #expect(text == "user=a;assistant=b;")
    }

    @Test func loadsStringTemplateAndTokensFromTokenizerConfig() throws {
        let json = #"""
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
             "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}
            """#
        let template = try ChatTemplate.fromTokenizerConfig(jsonData: Data(json.utf8))
        #expect(template.bosToken == "<s>")
        #expect(template.eosToken == "</s>")
        #expect(try template.render(messages: [ChatMessage(role: "user", content: "x")]) == "<s>x</s>")
        #expect(try template.render(messages: [], bosToken: "[B]") == "[B]</s>")
    }

    @Test func picksNamedTemplateFromList() throws {
        let json = #"""
            {"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T{{ tools | length }}"}]}
            """#
        let data = Data(json.utf8)
        #expect(try ChatTemplate.fromTokenizerConfig(jsonData: data).render(messages: []) == "D")
        #expect(try ChatTemplate.fromTokenizerConfig(jsonData: data, name: "tool_use").render(messages: [], tools: [["a": 1]]) == "T1")
        #expect(throws: ChatTemplateError.self) { try ChatTemplate.fromTokenizerConfig(jsonData: data, name: "rag") }
    }

    @Test func missingTemplateIsTypedError() {
        #expect(throws: ChatTemplateError.missingTemplate(reason: "tokenizer_config.json has no chat_template string or list")) {
            try ChatTemplate.fromTokenizerConfig(jsonData: Data(#"{"bos_token": "<s>"}"#.utf8))
        }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate.fromTokenizerConfig(jsonData: Data("{".utf8)) }
    }

    @Test func loadsTemplateFromGGUFMetadata() throws {
        let metadata = ["tokenizer.chat_template": "A{{ bos_token }}", "tokenizer.chat_template.rag": "R"]
        #expect(try ChatTemplate.fromGGUF(metadata: metadata, bosToken: "<s>").render(messages: []) == "A<s>")
        #expect(try ChatTemplate.fromGGUF(metadata: metadata, name: "rag").render(messages: []) == "R")
        #expect(throws: ChatTemplateError.self) { try ChatTemplate.fromGGUF(metadata: [:]) }
    }

    @Test func toolsAreNoneWhenNotGiven() throws {
        let template = try ChatTemplate(source: "{{ tools is none }} {{ tools is defined }} {{ documents is none }}")
        #expect(try template.render(messages: []) == "True True True")
    }

    @Test func extraVariablesReachTheTemplate() throws {
        let template = try ChatTemplate(source: "{% if enable_thinking is defined and not enable_thinking %}no-think{% endif %}")
        #expect(try template.render(messages: [], extra: ["enable_thinking": false]) == "no-think")
        #expect(try template.render(messages: []) == "")
    }

    @Test func jsonParserKeepsKeyOrderAndUnicode() throws {
        let v = try JinjaValue(jsonData: Data(#"{"z": 1, "a": [true, null, 1.5, "\u00e9\ud83d\ude80"]}"#.utf8))
        guard case .object(let o) = v else {
            Issue.record("not an object")
            return
        }
        #expect(o.keys == ["z", "a"])
        #expect(o["a"] == [true, nil, 1.5, "é🚀"])
    }

    @Test func longConversationRenders() throws {
        let template = try ChatTemplate(source: try ChatTemplateFixtures.source("qwen3.jinja"))
        let messages = (0..<2000).map { ChatMessage(role: $0 % 2 == 0 ? "user" : "assistant", content: "message \($0)") }
        let clock = ContinuousClock()
        let start = clock.now
        let text = try template.render(messages: messages, addGenerationPrompt: true)
        #expect(text.hasSuffix("<|im_start|>assistant\n"))
        #expect(text.components(separatedBy: "<|im_start|>").count == 2002)
        // Generous even for debug builds: guards against quadratic behaviour, not a benchmark.
        #expect(clock.now - start < .seconds(20))
    }
}
