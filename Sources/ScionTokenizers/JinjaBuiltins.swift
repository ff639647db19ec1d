// Jinja filters, tests, global functions and the Python str/dict/list methods templates call.
// Follows Jinja2's builtin filters and tests (jinja2/filters.py, jinja2/tests.py) plus
// transformers' chat-template globals: `raise_exception`, `strftime_now`, and `tojson`
// replaced by json.dumps(ensure_ascii=False, sort_keys=False).
// It is not the full Jinja library: filters chat templates do not use (urlize, wordwrap, …)
// are absent and name themselves in an unknown-filter error at parse time.

import Foundation

/// Positional and keyword arguments with Python-style lookup by position or name.
struct JinjaArgs {
    var positional: [JinjaRuntimeValue]
    var keywords: [(String, JinjaRuntimeValue)]

    func get(_ index: Int, _ name: String) -> JinjaRuntimeValue? {
        if index >= 0 && index < positional.count { return positional[index] }
        return keywords.first { $0.0 == name }?.1
    }

    func bool(_ index: Int, _ name: String, _ fallback: Bool) -> Bool {
        get(index, name)?.truthy ?? fallback
    }
}

extension JinjaInterpreter {
    static let filterNames: Set<String> = [
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "format", "indent", "int", "items", "join", "keys", "last", "length", "list",
        "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe",
        "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique",
        "upper", "values", "wordcount", "center", "batch", "groupby", "striptags",
    ]

    static let testNames: Set<String> = [
        "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number",
        "string", "mapping", "iterable", "sequence", "callable", "even", "odd", "divisibleby",
        "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan",
        ">", "ge", ">=", "in", "sameas", "lower", "upper", "escaped", "filter", "test",
    ]

    static let dictMethods: Set<String> = ["get", "items", "keys", "values"]
    static let listMethods: Set<String> = ["index", "count", "append", "pop", "extend", "insert", "remove", "clear", "sort", "reverse"]
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
        "upper", "lower", "title", "capitalize", "replace", "format", "find", "rfind", "count",
        "join", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "removeprefix",
        "removesuffix", "zfill", "center", "ljust", "rjust", "swapcase", "casefold", "index",
    ]

    // MARK: Globals

    func installBuiltins() {
        var g = scopes[0]
        func define(_ name: String, _ f: @escaping (JinjaArgs) throws -> JinjaRuntimeValue) {
            if g[name] == nil {
                g[name] = .callable(JinjaCallable(name: name) { try f(JinjaArgs(positional: $0, keywords: $1)) })
            }
        }
        define("raise_exception") { args in
            throw ChatTemplateError.raised(message: args.get(0, "message")?.pyStr ?? "")
        }
        define("range") { [unowned self] args in
            let ints = try args.positional.map { v -> Int in
                guard let i = intIndex(v) else { throw runtime("'\(v.typeName)' object cannot be interpreted as an integer") }
                return i
            }
            var start = 0, stop = 0, step = 1
            switch ints.count {
            case 1: stop = ints[0]
            case 2: (start, stop) = (ints[0], ints[1])
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw runtime("range expected 1 to 3 arguments, got \(ints.count)")
            }
            guard step != 0 else { throw runtime("range() arg 3 must not be zero") }
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            let count = max(0, (span / Double(step.magnitude)).rounded(.up))
            // Checked in Double first: huge spans do not fit an Int.
            guard count <= Double(limits.maxCollectionCount) else {
                throw ChatTemplateError.limitExceeded(what: "collection size", limit: limits.maxCollectionCount)
            }
            let n = Int(count)
            return .list((0..<n).map { .int(start + $0 * step) })
        }
        define("namespace") { args in
            let ns = JinjaNamespace()
            for v in args.positional {
                if case .dict(let d) = v { for (k, x) in d.entries { ns.attributes[k] = x } }
            }
            for (k, v) in args.keywords { ns.attributes[k] = v }
            return .namespace(ns)
        }
        define("dict") { args in
            var d = JinjaDict()
            for v in args.positional {
                if case .dict(let other) = v { for (k, x) in other.entries { d[k] = x } }
            }
            for (k, v) in args.keywords { d[k] = v }
            return .dict(d)
        }
        define("strftime_now") { args in
            .string(JinjaInterpreter.strftimeNow(args.get(0, "format")?.pyStr ?? ""))
        }
        scopes[0] = g
    }

    static func strftimeNow(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 512)
        let n = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Filters

    func applyFilter(_ name: String, _ value: JinjaRuntimeValue, _ positional: [JinjaRuntimeValue], _ keywords: [(String, JinjaRuntimeValue)]) throws -> JinjaRuntimeValue {
        let args = JinjaArgs(positional: positional, keywords: keywords)
        switch name {
        case "safe":
            // Markup(value): the result is always a string.
            return .string(value.pyStr)
        case "string":
            return .string(value.pyStr)
        case "trim":
            return .string(JinjaInterpreter.strip(value.pyStr, chars: args.get(0, "chars")?.stringValue, leading: true, trailing: true))
        case "upper": return .string(value.pyStr.uppercased())
        case "lower": return .string(value.pyStr.lowercased())
        case "capitalize": return .string(JinjaInterpreter.capitalize(value.pyStr))
        case "title": return .string(JinjaInterpreter.jinjaTitle(value.pyStr))
        case "length", "count":
            return .int(try length(value))
        case "first":
            return try iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            return try iterate(value).last ?? .undefined("No last item, sequence was empty.")
        case "join":
            var items = try iterate(value)
            if let attr = args.get(1, "attribute") { items = try items.map { try lookupPath($0, attr) } }
            let separator = args.get(0, "d")?.pyStr ?? ""
            try checkCount(items.count)
            return .string(items.map(\.pyStr).joined(separator: separator))
        case "default", "d":
            let fallback = args.get(0, "default_value") ?? .string("")
            if value.isUndefined || (args.bool(1, "boolean", false) && !value.truthy) { return fallback }
            return value
        case "tojson":
            return .string(try toJSON(value, args))
        case "int":
            return JinjaInterpreter.toInt(value, base: args.get(1, "base")?.intValue ?? 10) ?? (args.get(0, "default") ?? .int(0))
        case "float":
            return JinjaInterpreter.toDouble(value).map { .double($0) } ?? (args.get(0, "default") ?? .double(0))
        case "list":
            return .list(try iterate(value))
        case "replace":
            guard let old = args.get(0, "old"), let new = args.get(1, "new") else { throw runtime("replace() needs old and new") }
            return .string(try JinjaInterpreter.replace(value.pyStr, old.pyStr, new.pyStr, count: args.get(2, "count")?.intValue, limit: limits.maxOutputBytes))
        case "items":
            if value.isUndefined { return .list([]) }
            guard case .dict(let d) = value else { throw runtime("items filter: can only get item pairs from a mapping") }
            return .list(d.entries.map { .tuple([.string($0.0), $0.1]) })
        case "keys":
            guard case .dict(let d) = value else { throw runtime("keys filter: expected a mapping") }
            return .list(d.keys.map { .string($0) })
        case "values":
            guard case .dict(let d) = value else { throw runtime("values filter: expected a mapping") }
            return .list(d.values)
        case "dictsort":
            guard case .dict(let d) = value else { throw runtime("dictsort filter: expected a mapping") }
            let caseSensitive = args.bool(0, "case_sensitive", false)
            let byValue = args.get(1, "by")?.stringValue == "value"
            var pairs = d.entries.map { JinjaRuntimeValue.tuple([.string($0.0), $0.1]) }
            try sortValues(&pairs, caseSensitive: caseSensitive, reverse: args.bool(2, "reverse", false)) { v in
                v.listValue![byValue ? 1 : 0]
            }
            return .list(pairs)
        case _ where !value.truthy && ["selectattr", "rejectattr", "select", "reject", "map"].contains(name):
            // Jinja skips iteration entirely when the sequence is falsy (even for none).
            return .list([])
        case "selectattr", "rejectattr":
            guard let attr = args.get(0, "attribute") else { throw runtime("\(name) needs an attribute name") }
            let keep = name == "selectattr"
            return .list(try iterate(value).filter { item in
                try step()
                let v = try lookupPath(item, attr)
                return try passes(v, testArgs: Array(args.positional.dropFirst())) == keep
            })
        case "select", "reject":
            let keep = name == "select"
            return .list(try iterate(value).filter { item in
                try step()
                return try passes(item, testArgs: args.positional) == keep
            })
        case "map":
            let items = try iterate(value)
            if let attr = args.keywords.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = args.keywords.first { $0.0 == "default" }?.1
                return .list(try items.map { item in
                    try step()
                    let v = try lookupPath(item, attr)
                    if v.isUndefined, let fallback { return fallback }
                    return v
                })
            }
            guard let filterName = args.positional.first?.stringValue else { throw runtime("map filter needs a filter name or attribute=") }
            guard JinjaInterpreter.filterNames.contains(filterName) else { throw ChatTemplateError.unknownFilter(name: filterName, line: 0, column: 0) }
            let rest = Array(args.positional.dropFirst())
            return .list(try items.map { try applyFilter(filterName, $0, rest, args.keywords.filter { $0.0 != "attribute" }) })
        case "attr":
            guard let attr = args.get(0, "name") else { throw runtime("attr filter needs a name") }
            // NOTE: Jinja's `attr` is getattr only, so dict keys are not found.
            if case .dict = value, !JinjaInterpreter.dictMethods.contains(attr.pyStr) {
                return .undefined("'dict object' has no attribute '\(attr.pyStr)'")
            }
            return try attribute(of: value, attr.pyStr)
        case "indent":
            guard case .string = value else {
                if value.isUndefined { throw undefinedError(value) }
                throw runtime("indent filter needs a string, not \(value.typeName)")
            }
            var width = "    "
            if let w = args.get(0, "width") {
                if case .string(let s) = w { width = s } else if let n = intIndex(w) { width = String(repeating: " ", count: max(0, min(n, 1000))) }
            }
            return .string(JinjaInterpreter.indent(value.pyStr, width: width, first: args.bool(1, "first", false), blank: args.bool(2, "blank", false)))
        case "center":
            let width = args.get(0, "width")?.intValue ?? 80
            return .string(JinjaInterpreter.center(value.pyStr, width: min(width, 100_000)))
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try iterate(value).reversed())
        case "sort":
            var items = try iterate(value)
            let attr = args.get(2, "attribute")
            try sortValues(&items, caseSensitive: args.bool(1, "case_sensitive", false), reverse: args.bool(0, "reverse", false)) { v in
                attr.map { (try? self.lookupPath(v, $0)) ?? JinjaRuntimeValue.none } ?? v
            }
            return .list(items)
        case "unique":
            let caseSensitive = args.bool(0, "case_sensitive", false)
            let attr = args.get(1, "attribute")
            var seen: [JinjaRuntimeValue] = []
            var out: [JinjaRuntimeValue] = []
            for item in try iterate(value) {
                try step()
                var key = try attr.map { try lookupPath(item, $0) } ?? item
                switch key {
                case .list, .dict, .namespace: throw runtime("unhashable type: '\(key.typeName)'")
                default: break
                }
                if !caseSensitive, case .string(let s) = key { key = .string(s.lowercased()) }
                if !seen.contains(where: { JinjaRuntimeValue.pyEqual($0, key) }) {
                    seen.append(key)
                    out.append(item)
                }
            }
            return .list(out)
        case "abs":
            switch value.numeric {
            case .int(let i)?:
                guard i != Int.min else { throw runtime("integer overflow") }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            default: throw runtime("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            guard let n = value.numeric else { throw runtime("round filter needs a number") }
            let precision = max(-300, min(300, args.get(0, "precision")?.intValue ?? 0))
            let method = args.get(1, "method")?.pyStr ?? "common"
            let scale = Foundation.pow(10.0, Double(precision))
            let x = n.asDouble * scale
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrEven
            if method != "common" && method != "ceil" && method != "floor" { throw runtime("method must be common, ceil or floor") }
            if case .int(let i) = n, method == "common" { return .int(i) }
            return .double(x.rounded(rule) / scale)
        case "sum":
            var total: JinjaRuntimeValue = args.get(1, "start") ?? .int(0)
            for item in try iterate(value) {
                total = try binary("+", total, try args.get(0, "attribute").map { try lookupPath(item, $0) } ?? item)
            }
            return total
        case "min", "max":
            var items = try iterate(value)
            guard !items.isEmpty else { return .undefined("No aggregated item, sequence was empty.") }
            let attr = args.get(1, "attribute")
            try sortValues(&items, caseSensitive: args.bool(0, "case_sensitive", false), reverse: false) { v in
                attr.map { (try? self.lookupPath(v, $0)) ?? JinjaRuntimeValue.none } ?? v
            }
            return name == "min" ? items.first! : items.last!
        case "e", "escape":
            return .string(JinjaInterpreter.htmlEscape(value.pyStr))
        case "striptags":
            return .string(value.pyStr.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
                .split(whereSeparator: { $0.isWhitespace }).joined(separator: " "))
        case "wordcount":
            // Jinja counts runs of regex `\w` characters.
            var count = 0
            var inWord = false
            for u in value.pyStr.unicodeScalars {
                let isWord = u.properties.isAlphabetic || u.properties.numericType != nil || u == "_"
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        case "format":
            return .string(try JinjaInterpreter.percentFormat(value.pyStr, args.positional, mapping: .none))
        case "batch":
            guard let size = args.get(0, "linecount")?.intValue, size > 0 else { throw runtime("batch filter needs a positive size") }
            let items = try iterate(value)
            return .list(stride(from: 0, to: items.count, by: size).map { .list(Array(items[$0..<min($0 + size, items.count)])) })
        case "groupby":
            guard let attr = args.get(0, "attribute") else { throw runtime("groupby filter needs an attribute") }
            var groups: [(JinjaRuntimeValue, [JinjaRuntimeValue])] = []
            var items = try iterate(value)
            try sortValues(&items, caseSensitive: true, reverse: false) { v in (try? self.lookupPath(v, attr)) ?? JinjaRuntimeValue.none }
            for item in items {
                let key = try lookupPath(item, attr)
                if let last = groups.last, JinjaRuntimeValue.pyEqual(last.0, key) {
                    groups[groups.count - 1].1.append(item)
                } else {
                    groups.append((key, [item]))
                }
            }
            return .list(groups.map { .tuple([$0.0, .list($0.1)]) })
        default:
            throw ChatTemplateError.unknownFilter(name: name, line: 0, column: 0)
        }
    }

    func length(_ value: JinjaRuntimeValue) throws -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .list(let l), .tuple(let l): return l.count
        case .dict(let d): return d.count
        case .undefined: return 0
        case .namespace(let ns): return ns.attributes.count
        default: throw runtime("object of type '\(value.typeName)' has no len()")
        }
    }

    /// Looks up a dotted attribute path like "function.name"; integer parts index lists.
    func lookupPath(_ item: JinjaRuntimeValue, _ path: JinjaRuntimeValue) throws -> JinjaRuntimeValue {
        if case .int = path { return try self.item(of: item, path) }
        var v = item
        for part in path.pyStr.split(separator: ".", omittingEmptySubsequences: false) {
            if v.isUndefined { return v }
            if let i = Int(part) {
                v = try self.item(of: v, .int(i))
            } else {
                v = try self.item(of: v, .string(String(part)))
            }
        }
        return v
    }

    /// The test for select/reject: the first argument names the test; none means truthiness.
    func passes(_ value: JinjaRuntimeValue, testArgs: [JinjaRuntimeValue]) throws -> Bool {
        guard let first = testArgs.first else { return value.truthy }
        guard case .string(let testName) = first else { throw runtime("test name must be a string") }
        guard JinjaInterpreter.testNames.contains(testName) else { throw ChatTemplateError.unknownTest(name: testName, line: 0, column: 0) }
        return try applyTest(testName, value, Array(testArgs.dropFirst()))
    }

    func sortValues(_ items: inout [JinjaRuntimeValue], caseSensitive: Bool, reverse: Bool, key: (JinjaRuntimeValue) throws -> JinjaRuntimeValue) throws {
        try checkCount(items.count)
        var keyed = try items.map { item -> (JinjaRuntimeValue, JinjaRuntimeValue) in
            var k = try key(item)
            if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
            return (k, item)
        }
        var failure: ChatTemplateError? = nil
        // A stable merge-free sort: Swift's sort is not stable in general, so tag with indices.
        var indexed = keyed.enumerated().map { ($0.offset, $0.element) }
        indexed.sort { a, b in
            guard let lt = JinjaRuntimeValue.pyLess(a.1.0, b.1.0), let gt = JinjaRuntimeValue.pyLess(b.1.0, a.1.0) else {
                failure = .runtime(message: "'<' not supported between instances of '\(a.1.0.typeName)' and '\(b.1.0.typeName)'")
                return a.0 < b.0
            }
            if reverse ? gt : lt { return true }
            if reverse ? lt : gt { return false }
            return a.0 < b.0
        }
        if let failure { throw failure }
        keyed = indexed.map { $0.1 }
        items = keyed.map { $0.1 }
    }

    func toJSON(_ value: JinjaRuntimeValue, _ args: JinjaArgs) throws -> String {
        var indent: String? = nil
        if let i = args.keywords.first(where: { $0.0 == "indent" })?.1 ?? args.positional.first {
            switch i {
            case .int(let n): indent = String(repeating: " ", count: max(0, min(n, 1000)))
            case .string(let s): indent = s
            case .none, .undefined: indent = nil
            default: throw runtime("tojson indent must be an integer or string")
            }
        }
        var separators: (String, String)? = nil
        if let s = args.keywords.first(where: { $0.0 == "separators" })?.1, let l = s.listValue, l.count == 2 {
            separators = (l[0].pyStr, l[1].pyStr)
        }
        let writer = JinjaJSONWriter(
            indent: indent, separators: separators,
            sortKeys: args.keywords.first { $0.0 == "sort_keys" }?.1.truthy ?? false,
            ensureASCII: args.keywords.first { $0.0 == "ensure_ascii" }?.1.truthy ?? false)
        let text = try writer.encode(value)
        if text.utf8.count > limits.maxOutputBytes { throw ChatTemplateError.limitExceeded(what: "string size", limit: limits.maxOutputBytes) }
        return text
    }

    // MARK: Tests

    func applyTest(_ name: String, _ value: JinjaRuntimeValue, _ args: [JinjaRuntimeValue]) throws -> Bool {
        func arg() throws -> JinjaRuntimeValue {
            guard let a = args.first else { throw runtime("test '\(name)' needs an argument") }
            return a
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "number": return value.numeric != nil
        case "string": return value.stringValue != nil
        case "mapping": if case .dict = value { return true }; return false
        case "iterable", "sequence":
            switch value {
            case .string, .list, .tuple, .dict: return true
            case .namespace: return name == "iterable"
            default: return false
            }
        case "callable": if case .callable = value { return true }; return false
        case "even", "odd":
            guard value.numeric != nil else {
                if value.isUndefined { throw undefinedError(value) }
                throw runtime("test '\(name)' needs a number")
            }
            let r = try binary("%", value, .int(2))
            return JinjaRuntimeValue.pyEqual(r, .int(name == "even" ? 0 : 1))
        case "divisibleby":
            let r = try binary("%", value, try arg())
            return JinjaRuntimeValue.pyEqual(r, .int(0))
        case "eq", "equalto", "==": return JinjaRuntimeValue.pyEqual(value, try arg())
        case "ne", "!=": return !JinjaRuntimeValue.pyEqual(value, try arg())
        case "lt", "lessthan", "<": return try compare("<", value, try arg())
        case "le", "<=": return try compare("<=", value, try arg())
        case "gt", "greaterthan", ">": return try compare(">", value, try arg())
        case "ge", ">=": return try compare(">=", value, try arg())
        case "in": return try contains(try arg(), value)
        case "sameas":
            let other = try arg()
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower", "upper":
            // Python's str(value).islower() / isupper(): needs a cased character.
            let s = value.pyStr
            return s.contains(where: \.isCased) && s == (name == "lower" ? s.lowercased() : s.uppercased())
        case "escaped": return false
        case "filter": return JinjaInterpreter.filterNames.contains(value.pyStr)
        case "test": return JinjaInterpreter.testNames.contains(value.pyStr)
        default: throw ChatTemplateError.unknownTest(name: name, line: 0, column: 0)
        }
    }

    // MARK: Methods

    /// Calls a Python method on a str, dict or list; nil when the value has no such method.
    func callMethod(_ target: JinjaRuntimeValue, _ name: String, _ positional: [JinjaRuntimeValue], _ keywords: [(String, JinjaRuntimeValue)]) throws -> JinjaRuntimeValue? {
        let args = JinjaArgs(positional: positional, keywords: keywords)
        switch target {
        case .dict(let d):
            switch name {
            case "get":
                guard let key = args.get(0, "key") else { throw runtime("get expected at least 1 argument") }
                if case .string(let k) = key, let v = d[k] { return v }
                return args.get(1, "default") ?? JinjaRuntimeValue.none
            case "items": return .list(d.entries.map { .tuple([.string($0.0), $0.1]) })
            case "keys": return .list(d.keys.map { .string($0) })
            case "values": return .list(d.values)
            default:
                if d[name] != nil { return nil }
                return nil
            }
        case .list(let l), .tuple(let l):
            switch name {
            case "index":
                let x = args.get(0, "value") ?? JinjaRuntimeValue.none
                guard let i = l.firstIndex(where: { JinjaRuntimeValue.pyEqual($0, x) }) else { throw runtime("\(x.pyRepr) is not in list") }
                return .int(i)
            case "count":
                let x = args.get(0, "value") ?? JinjaRuntimeValue.none
                return .int(l.filter { JinjaRuntimeValue.pyEqual($0, x) }.count)
            default:
                if JinjaInterpreter.listMethods.contains(name) {
                    throw runtime("access to attribute '\(name)' of 'list' object is unsafe")
                }
                return nil
            }
        case .string(let s):
            return try callStringMethod(s, name, args)
        default:
            return nil
        }
    }

    func callStringMethod(_ s: String, _ name: String, _ args: JinjaArgs) throws -> JinjaRuntimeValue? {
        func str(_ i: Int, _ n: String) -> String? { args.get(i, n).flatMap { $0.stringValue } }
        switch name {
        case "strip", "lstrip", "rstrip":
            return .string(JinjaInterpreter.strip(s, chars: str(0, "chars"), leading: name != "rstrip", trailing: name != "lstrip"))
        case "upper": return .string(s.uppercased())
        case "lower", "casefold": return .string(s.lowercased())
        case "title": return .string(JinjaInterpreter.pythonTitle(s))
        case "capitalize": return .string(JinjaInterpreter.capitalize(s))
        case "swapcase":
            return .string(String(s.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) }))
        case "startswith", "endswith":
            guard let p = args.get(0, "prefix") else { throw runtime("\(name) takes at least 1 argument") }
            let candidates: [JinjaRuntimeValue] = p.listValue ?? [p]
            let scalars = Array(s.unicodeScalars)
            for c in candidates {
                guard case .string(let affix) = c else { throw runtime("\(name) first arg must be str or a tuple of str") }
                let a = Array(affix.unicodeScalars)
                if name == "startswith" ? scalars.starts(with: a) : scalars.reversed().starts(with: a.reversed()) { return .bool(true) }
            }
            return .bool(false)
        case "split", "rsplit":
            let sep = args.get(0, "sep").flatMap { $0.stringValue }
            let maxsplit = args.get(1, "maxsplit")?.intValue ?? -1
            return .list(try JinjaInterpreter.split(s, separator: sep, maxSplit: maxsplit, fromRight: name == "rsplit").map { .string($0) })
        case "splitlines":
            return .list(JinjaInterpreter.splitLines(s).map { .string($0) })
        case "replace":
            guard let old = str(0, "old"), let new = str(1, "new") else { throw runtime("replace() arguments must be str") }
            return .string(try JinjaInterpreter.replace(s, old, new, count: args.get(2, "count")?.intValue, limit: limits.maxOutputBytes))
        case "find", "rfind", "index":
            guard let sub = str(0, "sub") else { throw runtime("\(name)() argument must be str") }
            let hay = Array(s.unicodeScalars), needle = Array(sub.unicodeScalars)
            let positions = needle.count <= hay.count ? Array(0...(hay.count - needle.count)) : []
            let found = (name == "rfind" ? positions.reversed() : positions).first { Array(hay[$0..<$0 + needle.count]) == needle }
            if found == nil && name == "index" { throw runtime("substring not found") }
            return .int(found ?? -1)
        case "count":
            guard let sub = str(0, "sub") else { throw runtime("count() argument must be str") }
            if sub.isEmpty { return .int(s.unicodeScalars.count + 1) }
            return .int(s.components(separatedBy: sub).count - 1)
        case "join":
            let items = try iterate(args.get(0, "iterable") ?? .list([]))
            var parts: [String] = []
            for item in items {
                guard case .string(let p) = item else { throw runtime("sequence item: expected str instance, \(item.typeName) found") }
                parts.append(p)
            }
            return .string(parts.joined(separator: s))
        case "format":
            return .string(try formatBraces(s, args))
        case "isdigit": return .bool(!s.isEmpty && s.allSatisfy(\.isNumber))
        case "isalpha": return .bool(!s.isEmpty && s.allSatisfy(\.isLetter))
        case "isalnum": return .bool(!s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber })
        case "isspace": return .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace))
        case "isupper": return .bool(s.contains(where: \.isCased) && s == s.uppercased())
        case "islower": return .bool(s.contains(where: \.isCased) && s == s.lowercased())
        case "removeprefix":
            let p = str(0, "prefix") ?? ""
            return .string(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s)
        case "removesuffix":
            let p = str(0, "suffix") ?? ""
            return .string(s.hasSuffix(p) && !p.isEmpty ? String(s.dropLast(p.count)) : s)
        case "zfill", "center", "ljust", "rjust":
            let width = min(args.get(0, "width")?.intValue ?? 0, 100_000)
            let pad = max(0, width - s.unicodeScalars.count)
            let fill = str(1, "fillchar") ?? (name == "zfill" ? "0" : " ")
            switch name {
            case "ljust": return .string(s + String(repeating: fill, count: pad))
            case "rjust", "zfill": return .string(String(repeating: fill, count: pad) + s)
            default: return .string(JinjaInterpreter.center(s, width: width))
            }
        default:
            return nil
        }
    }

    /// Python's `str.format` for `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs).
    func formatBraces(_ format: String, _ args: JinjaArgs) throws -> String {
        var out = ""
        var chars = Array(format)[...]
        var auto = 0
        while let c = chars.popFirst() {
            if c == "{" {
                if chars.first == "{" { chars.removeFirst(); out.append("{"); continue }
                var field = ""
                while let d = chars.popFirst(), d != "}" { field.append(d) }
                let fieldName = String(field.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                let value: JinjaRuntimeValue?
                if fieldName.isEmpty {
                    value = auto < args.positional.count ? args.positional[auto] : nil
                    auto += 1
                } else if let i = Int(fieldName) {
                    value = i >= 0 && i < args.positional.count ? args.positional[i] : nil
                } else {
                    value = args.keywords.first { $0.0 == fieldName }?.1
                }
                guard let value else { throw runtime("format: missing argument for field '\(fieldName)'") }
                out += value.pyStr
            } else if c == "}" {
                if chars.first == "}" { chars.removeFirst() }
                out.append("}")
            } else {
                out.append(c)
            }
        }
        return out
    }

    // MARK: String helpers

    static func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
        u.properties.isWhitespace || (u.value >= 0x1C && u.value <= 0x1F)
    }

    static func strip(_ s: String, chars: String?, leading: Bool, trailing: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ u: Unicode.Scalar) -> Bool { set.map { $0.contains(u) } ?? isPythonSpace(u) }
        var scalars = Array(s.unicodeScalars)[...]
        if leading { while let f = scalars.first, drop(f) { scalars.removeFirst() } }
        if trailing { while let l = scalars.last, drop(l) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }

    /// Jinja's `title` filter: each word (split at spaces, '-', brackets) gets an upper-case
    /// first letter and a lower-case rest.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s {
            if c.isWhitespace || "-({[<".contains(c) {
                out.append(c)
                atStart = true
            } else if atStart {
                out += c.uppercased()
                atStart = false
            } else {
                out += c.lowercased()
            }
        }
        return out
    }

    /// Python's `str.title`: a letter after a non-letter is upper-cased, others lowered.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s {
            if c.isCased {
                out += previousCased ? c.lowercased() : c.uppercased()
                previousCased = true
            } else {
                out.append(c)
                previousCased = false
            }
        }
        return out
    }

    static func split(_ s: String, separator: String?, maxSplit: Int, fromRight: Bool) throws -> [String] {
        if let separator {
            guard !separator.isEmpty else { throw ChatTemplateError.runtime(message: "empty separator") }
            var parts = s.components(separatedBy: separator)
            if maxSplit >= 0 && parts.count > maxSplit + 1 {
                if fromRight {
                    let head = parts[0..<(parts.count - maxSplit)].joined(separator: separator)
                    parts = [head] + parts[(parts.count - maxSplit)...]
                } else {
                    let tail = parts[maxSplit...].joined(separator: separator)
                    parts = Array(parts[0..<maxSplit]) + [tail]
                }
            }
            return parts
        }
        // Whitespace split: runs of whitespace separate, and empty strings are dropped.
        var words: [String] = []
        var current = String.UnicodeScalarView()
        var scalars = Array(s.unicodeScalars)
        if fromRight { scalars.reverse() }
        var i = 0
        while i < scalars.count {
            let u = scalars[i]
            if isPythonSpace(u) {
                if !current.isEmpty {
                    words.append(String(current))
                    current = String.UnicodeScalarView()
                    if maxSplit >= 0 && words.count == maxSplit {
                        while i < scalars.count && isPythonSpace(scalars[i]) { i += 1 }
                        if i < scalars.count {
                            var rest = Array(scalars[i...])
                            while let l = rest.last, isPythonSpace(l) { rest.removeLast() }
                            current = String.UnicodeScalarView(rest)
                        }
                        break
                    }
                }
            } else {
                current.append(u)
            }
            i += 1
        }
        if !current.isEmpty { words.append(String(current)) }
        if fromRight { words = words.reversed().map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) } }
        return words
    }

    static func splitLines(_ s: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        var scalars = Array(s.unicodeScalars)[...]
        while let u = scalars.popFirst() {
            if breaks.contains(u.value) {
                if u.value == 0x0D, scalars.first == "\n" { scalars.removeFirst() }
                lines.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(u)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int?, limit: Int) throws -> String {
        let maxCount = count.flatMap { $0 < 0 ? nil : $0 } ?? Int.max
        if old.isEmpty {
            // Python inserts `new` before every character and at the end.
            let scalars = Array(s.unicodeScalars)
            let inserts = min(maxCount, scalars.count + 1)
            if new.utf8.count * inserts + s.utf8.count > limit {
                throw ChatTemplateError.limitExceeded(what: "string size", limit: limit)
            }
            var out = ""
            for (i, u) in scalars.enumerated() {
                if i < inserts { out += new }
                out.unicodeScalars.append(u)
            }
            if inserts > scalars.count { out += new }
            return out
        }
        let parts = s.components(separatedBy: old)
        if parts.count - 1 <= maxCount {
            let result = parts.joined(separator: new)
            if result.utf8.count > limit { throw ChatTemplateError.limitExceeded(what: "string size", limit: limit) }
            return result
        }
        let head = parts[0...maxCount].joined(separator: new)
        return head + old + parts[(maxCount + 1)...].joined(separator: old)
    }

    static func indent(_ s: String, width: String, first: Bool, blank: Bool) -> String {
        let lines = splitLines(s + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + width)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                result += "\n" + rest.map { $0.isEmpty ? $0 : width + $0 }.joined(separator: "\n")
            }
        }
        return first ? width + result : result
    }

    static func center(_ s: String, width: Int) -> String {
        let n = s.unicodeScalars.count
        guard width > n else { return s }
        let total = width - n
        // Python puts the extra space on the left when the padding is odd and width is odd.
        let left = total / 2 + (total & width & 1)
        return String(repeating: " ", count: left) + s + String(repeating: " ", count: total - left)
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func toInt(_ v: JinjaRuntimeValue, base: Int) -> JinjaRuntimeValue? {
        switch v {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else { return nil }
            return .int(i)
        case .string(let s):
            let t = strip(s, chars: nil, leading: true, trailing: true).replacingOccurrences(of: "_", with: "")
            if let i = Int(t, radix: max(2, min(36, base))) { return .int(i) }
            if let d = Double(t) { return toInt(.double(d), base: base) }
            return nil
        default: return nil
        }
    }

    static func toDouble(_ v: JinjaRuntimeValue) -> Double? {
        switch v {
        case .int, .double, .bool: return v.asDouble
        case .string(let s): return Double(strip(s, chars: nil, leading: true, trailing: true))
        default: return nil
        }
    }
}
