// Chat templates: turns a conversation into the prompt string a chat model was trained on.
// Renders the Jinja2 `chat_template` from tokenizer_config.json or GGUF metadata with
// Scion's own interpreter, reproducing transformers' `apply_chat_template(tokenize=False)`:
// Jinja2 semantics with trim_blocks=True, lstrip_blocks=True, an immutable sandbox,
// `tojson` as json.dumps(ensure_ascii=False), `raise_exception` and `strftime_now`.
// It does not tokenize; pass the rendered string to the tokenizer.

import Foundation

/// A chat template could not be parsed, loaded or rendered.
public enum ChatTemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The template source is not valid Jinja; `line` and `column` are 1-based.
    case syntax(message: String, line: Int, column: Int)
    /// The template uses a filter Scion does not implement.
    case unknownFilter(name: String, line: Int, column: Int)
    /// The template uses a test (`x is name`) Scion does not implement.
    case unknownTest(name: String, line: Int, column: Int)
    /// An undefined value was used where Jinja raises `UndefinedError`.
    case undefined(message: String)
    /// A Python-level error during rendering (wrong types, division by zero, …).
    case runtime(message: String)
    /// The template called `raise_exception(message)`.
    case raised(message: String)
    /// A render exceeded a resource limit (output size, steps, call depth).
    case limitExceeded(what: String, limit: Int)
    /// Configuration or tool JSON could not be parsed.
    case invalidJSON(reason: String)
    /// No usable chat template was found.
    case missingTemplate(reason: String)

    /// A one-line message naming the problem (and the position, for syntax errors).
    public var description: String {
        switch self {
        case .syntax(let m, let l, let c): return "chat template syntax error at line \(l), column \(c): \(m)"
        case .unknownFilter(let n, let l, let c): return "chat template uses unknown filter '\(n)' at line \(l), column \(c)"
        case .unknownTest(let n, let l, let c): return "chat template uses unknown test '\(n)' at line \(l), column \(c)"
        case .undefined(let m): return "chat template used an undefined value: \(m)"
        case .runtime(let m): return "chat template error: \(m)"
        case .raised(let m): return "chat template raised: \(m)"
        case .limitExceeded(let w, let n): return "chat template exceeded its limit of \(n) \(w)"
        case .invalidJSON(let r): return "invalid JSON: \(r)"
        case .missingTemplate(let r): return "no chat template: \(r)"
        }
    }
}

/// One message of a conversation.
///
/// A message is an ordered mapping, as in transformers: `role` and `content` plus any
/// other fields a template reads (`tool_calls`, `name`, `tool_call_id`, …).
///
/// ```swift
/// let m = ChatMessage(role: "user", content: "Hello!")
/// ```
public struct ChatMessage: Sendable, Equatable {
    /// All fields of the message, in order.
    public var fields: JinjaObject

    /// Creates a text message.
    ///
    /// - Parameters:
    ///   - role: `system`, `user`, `assistant`, `tool`, …
    ///   - content: The message text.
    public init(role: String, content: String) {
        fields = ["role": .string(role), "content": .string(content)]
    }

    /// Creates a message with structured content and extra fields.
    ///
    /// - Parameters:
    ///   - role: The speaker's role.
    ///   - content: A string, a list of content parts, or `.null`.
    ///   - extra: Further fields, appended after `role` and `content`.
    public init(role: String, content: JinjaValue, extra: JinjaObject = [:]) {
        fields = ["role": .string(role), "content": content]
        for (k, v) in extra.entries { fields[k] = v }
    }

    /// Creates a message from all of its fields (for example a parsed JSON object).
    public init(fields: JinjaObject) {
        self.fields = fields
    }

    /// The `role` field, or an empty string when absent.
    public var role: String { fields["role"]?.stringValue ?? "" }
}

/// A parsed chat template, ready to render conversations.
///
/// Rendering matches transformers' `apply_chat_template(..., tokenize=False)`: the template
/// sees `messages`, `tools`, `documents`, `add_generation_prompt`, `bos_token`,
/// `eos_token` and any extra variables.
///
/// ```swift
/// let template = try ChatTemplate(source: source)
/// let prompt = try template.render(
///     messages: [ChatMessage(role: "user", content: "Hi")],
///     addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    /// The template source.
    public let source: String
    /// The BOS token text from the configuration, used when `render` is given none.
    public var bosToken: String?
    /// The EOS token text from the configuration, used when `render` is given none.
    public var eosToken: String?
    /// The most bytes one render may produce.
    public var maxOutputBytes = 64 << 20
    /// The most evaluation steps (statements, expressions, loop iterations) of one render.
    public var maxSteps = 20_000_000
    /// The deepest macro call nesting allowed.
    public var maxCallDepth = 32

    let nodes: [JinjaNode]
    /// Top-level names assigned before any top-level read; they start Undefined (Jinja2 idtracking).
    let assignedBeforeUse: Set<String>

    /// Parses a template.
    ///
    /// - Parameters:
    ///   - source: Jinja2 template text.
    ///   - bosToken: BOS token text to use when `render` is not given one.
    ///   - eosToken: EOS token text to use when `render` is not given one.
    /// - Throws: ``ChatTemplateError/syntax(message:line:column:)`` or
    ///   ``ChatTemplateError/unknownFilter(name:line:column:)`` for invalid templates.
    public init(source: String, bosToken: String? = nil, eosToken: String? = nil) throws {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        var parser = try JinjaParser(source: source)
        nodes = try parser.parseTemplate()
        assignedBeforeUse = JinjaParser.namesAssignedBeforeUse(nodes)
    }

    /// Renders a conversation.
    ///
    /// - Parameters:
    ///   - messages: The conversation.
    ///   - addGenerationPrompt: Append the header that starts the assistant's turn.
    ///   - bosToken: BOS token text; defaults to the configuration's, else "".
    ///   - eosToken: EOS token text; defaults to the configuration's, else "".
    ///   - tools: Tool (function) schemas; `nil` renders `tools` as `None`, as transformers does.
    ///   - documents: Retrieval documents; `nil` renders `documents` as `None`.
    ///   - extra: Further template variables (e.g. `enable_thinking`); they override the above.
    /// - Returns: The prompt text.
    /// - Throws: ``ChatTemplateError`` when rendering fails or the template calls
    ///   `raise_exception`.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool = false, bosToken: String? = nil,
        eosToken: String? = nil, tools: [JinjaValue]? = nil, documents: [JinjaValue]? = nil,
        extra: [String: JinjaValue] = [:]
    ) throws -> String {
        var context: [String: JinjaRuntimeValue] = [
            "messages": .list(messages.map { JinjaRuntimeValue(.object($0.fields)) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken ?? self.bosToken ?? ""),
            "eos_token": .string(eosToken ?? self.eosToken ?? ""),
            "tools": tools.map { JinjaRuntimeValue(.array($0)) } ?? JinjaRuntimeValue.none,
            "documents": documents.map { JinjaRuntimeValue(.array($0)) } ?? JinjaRuntimeValue.none,
        ]
        for (k, v) in extra { context[k] = JinjaRuntimeValue(v) }
        return try render(context: context)
    }

    /// Renders a conversation given as dictionaries.
    ///
    /// Dictionary order is not preserved; use ``ChatMessage/init(fields:)`` when a template
    /// serializes whole messages with `tojson`.
    ///
    /// - Parameters: See ``render(messages:addGenerationPrompt:bosToken:eosToken:tools:documents:extra:)``.
    /// - Returns: The prompt text.
    /// - Throws: ``ChatTemplateError`` when rendering fails.
    @_disfavoredOverload  // so `render(messages: [])` picks the ChatMessage overload
    public func render(
        messages: [[String: JinjaValue]], addGenerationPrompt: Bool = false, bosToken: String? = nil,
        eosToken: String? = nil, tools: [JinjaValue]? = nil, documents: [JinjaValue]? = nil,
        extra: [String: JinjaValue] = [:]
    ) throws -> String {
        let ordered = messages.map { m -> ChatMessage in
            // Put role and content first, the rest sorted, so output is deterministic.
            var fields = JinjaObject()
            for key in ["role", "content"] where m[key] != nil { fields[key] = m[key] }
            for key in m.keys.sorted() where fields[key] == nil { fields[key] = m[key] }
            return ChatMessage(fields: fields)
        }
        return try render(
            messages: ordered, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken,
            eosToken: eosToken, tools: tools, documents: documents, extra: extra)
    }

    /// Renders the template with an arbitrary set of variables.
    ///
    /// - Parameter variables: The template's variables.
    /// - Returns: The rendered text.
    /// - Throws: ``ChatTemplateError`` when rendering fails.
    public func render(variables: JinjaObject) throws -> String {
        var context: [String: JinjaRuntimeValue] = [:]
        for (k, v) in variables.entries { context[k] = JinjaRuntimeValue(v) }
        return try render(context: context)
    }

    func render(context: [String: JinjaRuntimeValue]) throws -> String {
        let limits = JinjaLimits(
            maxOutputBytes: maxOutputBytes, maxSteps: maxSteps, maxCallDepth: maxCallDepth,
            maxCollectionCount: 10_000_000)
        var globals = context
        for name in assignedBeforeUse { globals[name] = .undefined("'\(name)' is undefined") }
        let interpreter = JinjaInterpreter(globals: globals, limits: limits)
        _ = try interpreter.execute(nodes)
        return interpreter.output
    }

    /// Loads the chat template of a Hugging Face `tokenizer_config.json`.
    ///
    /// `chat_template` may be a string or a list of `{"name", "template"}`; from a list the
    /// template called `name` is used, else the one called "default". `bos_token` and
    /// `eos_token` may be strings or `{"content": …}` objects.
    ///
    /// - Parameters:
    ///   - jsonData: The contents of `tokenizer_config.json`.
    ///   - name: The named template to use (e.g. "tool_use"); nil picks "default".
    /// - Returns: The parsed template with its BOS and EOS token texts.
    /// - Throws: ``ChatTemplateError/invalidJSON(reason:)``,
    ///   ``ChatTemplateError/missingTemplate(reason:)`` or a syntax error.
    public static func fromTokenizerConfig(jsonData: Data, name: String? = nil) throws -> ChatTemplate {
        guard case .object(let config) = try JinjaValue(jsonData: jsonData) else {
            throw ChatTemplateError.invalidJSON(reason: "tokenizer_config.json is not an object")
        }
        func token(_ key: String) -> String? {
            switch config[key] {
            case .string(let s)?: return s
            case .object(let o)?: return o["content"]?.stringValue
            default: return nil
            }
        }
        let source: String
        switch config["chat_template"] {
        case .string(let s)?:
            if let name, name != "default" {
                throw ChatTemplateError.missingTemplate(reason: "no template named '\(name)'; the config has a single template")
            }
            source = s
        case .array(let list)?:
            var named: [(String, String)] = []
            for entry in list {
                guard case .object(let o) = entry, let n = o["name"]?.stringValue, let t = o["template"]?.stringValue else {
                    throw ChatTemplateError.invalidJSON(reason: "chat_template list entries need 'name' and 'template' strings")
                }
                named.append((n, t))
            }
            let wanted = name ?? "default"
            guard let found = named.first(where: { $0.0 == wanted }) else {
                throw ChatTemplateError.missingTemplate(
                    reason: "no template named '\(wanted)'; available: \(named.map(\.0).joined(separator: ", "))")
            }
            source = found.1
        default:
            throw ChatTemplateError.missingTemplate(reason: "tokenizer_config.json has no chat_template string or list")
        }
        return try ChatTemplate(source: source, bosToken: token("bos_token"), eosToken: token("eos_token"))
    }

    /// Loads the chat template from GGUF metadata strings.
    ///
    /// GGUF stores the default template under `tokenizer.chat_template` and named ones under
    /// `tokenizer.chat_template.<name>`. GGUF stores BOS/EOS as token ids, so pass their texts.
    ///
    /// - Parameters:
    ///   - metadata: The GGUF string metadata.
    ///   - name: A named template; nil picks the default one.
    ///   - bosToken: The BOS token text, if known.
    ///   - eosToken: The EOS token text, if known.
    /// - Returns: The parsed template.
    /// - Throws: ``ChatTemplateError/missingTemplate(reason:)`` or a syntax error.
    public static func fromGGUF(
        metadata: [String: String], name: String? = nil, bosToken: String? = nil, eosToken: String? = nil
    ) throws -> ChatTemplate {
        let key = name.map { $0 == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template.\($0)" }
            ?? "tokenizer.chat_template"
        guard let source = metadata[key] else {
            throw ChatTemplateError.missingTemplate(reason: "GGUF metadata has no '\(key)'")
        }
        return try ChatTemplate(source: source, bosToken: bosToken, eosToken: eosToken)
    }
}
