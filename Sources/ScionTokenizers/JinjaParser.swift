// Jinja2 parser: tokens to a small syntax tree of statements and expressions.
// Follows the grammar and operator precedence of jinja2/parser.py (conditional < or < and <
// not < comparisons < +,- < ~ < *,/,//,% < ** < unary < postfix, filters and tests).
// Supports the statements chat templates use: if, for (with else, inline filter, break,
// continue), set (plain, tuple, attribute and block forms), macro, raw, generation and
// filter blocks. It deliberately has no extends/include/import (chat templates are single files).

/// An expression node.
indirect enum JinjaExpr: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case name(String)
    case list([JinjaExpr])
    case tuple([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case item(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, start: JinjaExpr?, stop: JinjaExpr?, step: JinjaExpr?)
    case call(JinjaExpr, JinjaArguments)
    case filter(JinjaExpr, name: String, JinjaArguments, offset: Int)
    case test(JinjaExpr, name: String, JinjaArguments, negated: Bool, offset: Int)
    case negate(JinjaExpr)
    case plus(JinjaExpr)
    case not(JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case compare(JinjaExpr, [(String, JinjaExpr)])
    case conditional(JinjaExpr, test: JinjaExpr, otherwise: JinjaExpr?)
}

/// Positional and keyword call arguments.
struct JinjaArguments: Sendable {
    var positional: [JinjaExpr] = []
    var keywords: [(String, JinjaExpr)] = []
}

/// The left side of a `set` or a `for` target.
enum JinjaTarget: Sendable {
    case name(String)
    case attribute(String, String)
    case tuple([String])
}

/// A macro definition: parameters with optional defaults and a body.
struct JinjaMacro: Sendable {
    var name: String
    var parameters: [(String, JinjaExpr?)]
    var body: [JinjaNode]
}

/// A statement or output node.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr)
    case ifChain([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case forLoop(target: JinjaTarget, iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode])
    case set(JinjaTarget, JinjaExpr)
    case setBlock(JinjaTarget, [JinjaNode])
    case macro(JinjaMacro)
    case filterBlock(name: String, JinjaArguments, body: [JinjaNode], offset: Int)
    case breakLoop
    case continueLoop
}

/// Recursive-descent parser over the lexer's tokens.
struct JinjaParser {
    var tokens: [JinjaToken]
    var index = 0
    let source: [UInt8]
    /// Nesting depth of expressions and blocks; bounded so hostile input cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 64
    /// Expression nodes built in the current tag. Operator chains are built iteratively, so
    /// this (not `depth`) bounds how deep they nest, and with it evaluation recursion.
    var nodesInTag = 0
    static let maxNodesPerTag = 400

    init(source: String) throws {
        var lexer = JinjaLexer(source: source)
        tokens = try lexer.tokenize()
        self.source = lexer.bytes
    }

    var current: JinjaToken { tokens[index] }

    func error(_ message: String, at offset: Int? = nil) -> ChatTemplateError {
        let (line, column) = JinjaLexer.lineColumn(of: offset ?? current.offset, in: source)
        return .syntax(message: message, line: line, column: column)
    }

    mutating func advance() -> JinjaToken {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { index += 1; return true }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        if isName(name) { index += 1; return true }
        return false
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw error("expected '\(op)', got \(describe(current))") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, got \(describe(current))") }
        index += 1
        return n
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw error("expected end of statement block, got \(describe(current))") }
        index += 1
    }

    func describe(_ token: JinjaToken) -> String {
        switch token.kind {
        case .text: return "template data"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .name(let n): return "'\(n)'"
        case .string: return "a string"
        case .int(let i): return "'\(i)'"
        case .float(let d): return "'\(d)'"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    mutating func countNode() throws {
        nodesInTag += 1
        if nodesInTag > JinjaParser.maxNodesPerTag { throw error("expression too complex") }
    }

    mutating func enter() throws {
        depth += 1
        if depth > JinjaParser.maxDepth { throw error("template nested too deeply") }
    }

    // MARK: Statements

    /// Parses the whole template.
    mutating func parseTemplate() throws -> [JinjaNode] {
        let (body, end) = try parseBody(until: [])
        if let end { throw error("unexpected '\(end)'") }
        return body
    }

    /// Parses nodes until a block tag whose keyword is in `until`; returns that keyword
    /// (positioned after it, before the rest of its tag) or nil at end of input.
    mutating func parseBody(until: Set<String>) throws -> ([JinjaNode], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [JinjaNode] = []
        while true {
            let token = advance()
            switch token.kind {
            case .eof:
                if !until.isEmpty {
                    let wanted = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw error("unexpected end of template, expected \(wanted)", at: token.offset)
                }
                return (nodes, nil)
            case .text(let s):
                nodes.append(.text(s))
            case .variableBegin:
                nodesInTag = 0
                let expr = try parseTuple()
                guard current.kind == .variableEnd else { throw error("expected '}}', got \(describe(current))") }
                index += 1
                nodes.append(.output(expr))
            case .blockBegin:
                guard case .name(let keyword) = current.kind else { throw error("expected a statement name") }
                nodesInTag = 0
                if until.contains(keyword) {
                    index += 1
                    return (nodes, keyword)
                }
                nodes.append(contentsOf: try parseStatement())
            default:
                throw error("unexpected \(describe(token))", at: token.offset)
            }
        }
    }

    mutating func parseStatement() throws -> [JinjaNode] {
        let keywordOffset = current.offset
        let keyword = try expectName()
        switch keyword {
        case "if": return [try parseIf()]
        case "for": return [try parseFor()]
        case "set": return [try parseSet()]
        case "macro": return [try parseMacro()]
        case "break", "continue":
            try expectBlockEnd()
            return [keyword == "break" ? .breakLoop : .continueLoop]
        case "generation":
            // transformers' AssistantTracker extension: renders its body unchanged.
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return body
        case "filter":
            let name = try expectName()
            var args = JinjaArguments()
            if isOp("(") { args = try parseCallArguments() }
            try expectBlockEnd()
            guard JinjaInterpreter.filterNames.contains(name) else {
                let (line, column) = JinjaLexer.lineColumn(of: keywordOffset, in: source)
                throw ChatTemplateError.unknownFilter(name: name, line: line, column: column)
            }
            let (body, _) = try parseBody(until: ["endfilter"])
            try expectBlockEnd()
            return [.filterBlock(name: name, args, body: body, offset: keywordOffset)]
        default:
            throw error("unknown or unexpected statement '\(keyword)'", at: keywordOffset)
        }
    }

    mutating func parseIf() throws -> JinjaNode {
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var condition = try parseTuple()
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            if end == "elif" {
                condition = try parseTuple()
                continue
            }
            try expectBlockEnd()
            if end == "else" {
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return .ifChain(branches, otherwise: otherwise)
            }
            return .ifChain(branches, otherwise: [])
        }
    }

    mutating func parseTarget(allowAttribute: Bool) throws -> JinjaTarget {
        var names = [try expectName()]
        if allowAttribute, skipOp(".") {
            return .attribute(names[0], try expectName())
        }
        var isTuple = false
        while skipOp(",") {
            isTuple = true
            guard case .name = current.kind else { break }
            names.append(try expectName())
        }
        return isTuple ? .tuple(names) : .name(names[0])
    }

    mutating func parseFor() throws -> JinjaNode {
        let hadParen = skipOp("(")
        let target = try parseTarget(allowAttribute: false)
        if hadParen { try expectOp(")") }
        guard skipName("in") else { throw error("expected 'in' in for loop, got \(describe(current))") }
        let iterable = try parseTuple(allowConditional: false)
        var condition: JinjaExpr? = nil
        if skipName("if") { condition = try parseExpression() }
        if skipName("recursive") { throw error("recursive for loops are not supported") }
        try expectBlockEnd()
        let (body, end) = try parseBody(until: ["endfor", "else"])
        var otherwise: [JinjaNode] = []
        try expectBlockEnd()
        if end == "else" {
            (otherwise, _) = try parseBody(until: ["endfor"])
            try expectBlockEnd()
        }
        return .forLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
    }

    mutating func parseSet() throws -> JinjaNode {
        let target = try parseTarget(allowAttribute: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value)
        }
        // Block form: {% set x %}…{% endset %}, optionally with filters (not supported).
        guard current.kind == .blockEnd else { throw error("expected '=' in set statement, got \(describe(current))") }
        index += 1
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, body)
    }

    mutating func parseMacro() throws -> JinjaNode {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(String, JinjaExpr?)] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let p = try expectName()
            if skipOp("=") {
                parameters.append((p, try parseExpression()))
            } else {
                parameters.append((p, nil))
            }
        }
        try expectOp(")")
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name = current.kind { index += 1 }  // optional macro name after endmacro
        try expectBlockEnd()
        return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
    }

    // MARK: Expressions

    /// An expression, or a bare tuple `a, b` where Jinja allows one.
    mutating func parseTuple(allowConditional: Bool = true) throws -> JinjaExpr {
        var items: [JinjaExpr] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                sawComma = true
            }
            if current.kind == .blockEnd || current.kind == .variableEnd || isOp(")") || isName("if") && !allowConditional {
                break
            }
            items.append(allowConditional ? try parseExpression() : try parseOr())
        }
        if items.isEmpty { throw error("expected an expression, got \(describe(current))") }
        return items.count == 1 && !sawComma ? items[0] : .tuple(items)
    }

    mutating func parseExpression() throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        let value = try parseOr()
        if skipName("if") {
            let test = try parseOr()
            var otherwise: JinjaExpr? = nil
            if skipName("else") { otherwise = try parseExpression() }
            return .conditional(value, test: test, otherwise: otherwise)
        }
        return value
    }

    mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> JinjaExpr {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> JinjaExpr {
        let left = try parseMath1()
        var ops: [(String, JinjaExpr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                index += 1
                ops.append((o, try parseMath1()))
            } else if skipName("in") {
                ops.append(("in", try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                index += 2
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops)
    }

    mutating func parseMath1() throws -> JinjaExpr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            index += 1
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    mutating func parseConcat() throws -> JinjaExpr {
        var left = try parseMath2()
        while skipOp("~") { left = .binary("~", left, try parseMath2()) }
        return left
    }

    mutating func parseMath2() throws -> JinjaExpr {
        var left = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            index += 1
            left = .binary(o, left, try parsePow())
        }
        return left
    }

    mutating func parsePow() throws -> JinjaExpr {
        var left = try parseUnary(withFilter: true)
        while skipOp("**") { left = .binary("**", left, try parseUnary(withFilter: true)) }
        return left
    }

    mutating func parseUnary(withFilter: Bool) throws -> JinjaExpr {
        try countNode()
        try enter()
        defer { depth -= 1 }
        var node: JinjaExpr
        if skipOp("-") {
            node = .negate(try parseUnary(withFilter: false))
        } else if skipOp("+") {
            node = .plus(try parseUnary(withFilter: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    mutating func parsePrimary() throws -> JinjaExpr {
        let token = advance()
        switch token.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .bool(true)
            case "false", "False": return .bool(false)
            case "none", "None": return .none
            default: return .name(n)
            }
        case .string(var s):
            while case .string(let more) = current.kind {
                s += more
                index += 1
            }
            return .string(s)
        case .int(let i): return .int(i)
        case .float(let d): return .double(d)
        case .op("("):
            if skipOp(")") { return .tuple([]) }
            let inner = try parseTuple()
            try expectOp(")")
            return inner
        case .op("["):
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            var items: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                items.append((key, try parseExpression()))
            }
            try expectOp("}")
            return .dict(items)
        default:
            throw error("unexpected \(describe(token))", at: token.offset)
        }
    }

    mutating func parsePostfix(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            try countNode()
            if skipOp(".") {
                let t = advance()
                switch t.kind {
                case .name(let n): node = .attribute(node, n)
                case .int(let i): node = .item(node, .int(i))
                default: throw error("expected an attribute name after '.'", at: t.offset)
                }
            } else if isOp("[") {
                index += 1
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    mutating func parseSubscript(_ target: JinjaExpr) throws -> JinjaExpr {
        // Parses `[i]`, `[a:b]`, `[a:b:c]` and any part omitted.
        var parts: [JinjaExpr?] = [nil]
        var colons = 0
        while !isOp("]") {
            if skipOp(":") {
                colons += 1
                guard colons <= 2 else { throw error("too many ':' in subscript") }
                parts.append(nil)
            } else {
                guard parts[parts.count - 1] == nil else { throw error("expected ']' or ':' in subscript") }
                parts[parts.count - 1] = try parseExpression()
            }
        }
        try expectOp("]")
        if colons == 0 {
            guard let index = parts[0] else { throw error("empty subscript") }
            return .item(target, index)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(target, start: parts[0], stop: parts[1], step: parts[2])
    }

    mutating func parseCallArguments() throws -> JinjaArguments {
        try expectOp("(")
        var args = JinjaArguments()
        while !isOp(")") {
            if !args.positional.isEmpty || !args.keywords.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if case .name(let n) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                index += 2
                args.keywords.append((n, try parseExpression()))
            } else {
                guard args.keywords.isEmpty else { throw error("positional argument after keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    mutating func parseFilterExpr(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            try countNode()
            if skipOp("|") {
                let offset = current.offset
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                guard JinjaInterpreter.filterNames.contains(name) else {
                    let (line, column) = JinjaLexer.lineColumn(of: offset, in: source)
                    throw ChatTemplateError.unknownFilter(name: name, line: line, column: column)
                }
                var args = JinjaArguments()
                if isOp("(") { args = try parseCallArguments() }
                node = .filter(node, name: name, args, offset: offset)
                node = try parsePostfix(node)
            } else if skipName("is") {
                let negated = skipName("not")
                let offset = current.offset
                let name = try expectName()
                guard JinjaInterpreter.testNames.contains(name) else {
                    let (line, column) = JinjaLexer.lineColumn(of: offset, in: source)
                    throw ChatTemplateError.unknownTest(name: name, line: line, column: column)
                }
                var args = JinjaArguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsTestArgument() {
                    args.positional.append(try parsePostfix(try parsePrimary()))
                }
                node = .test(node, name: name, args, negated: negated, offset: offset)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    /// Whether the token after a test name begins its single unparenthesized argument.
    func startsTestArgument() -> Bool {
        switch current.kind {
        case .string, .int, .float: return true
        case .op(let o): return o == "[" || o == "{"
        case .name(let n): return !["else", "or", "and"].contains(n)
        default: return false
        }
    }
}
