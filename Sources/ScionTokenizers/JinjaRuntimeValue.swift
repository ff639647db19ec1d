// Runtime values of the Jinja interpreter and their Python semantics: str(), repr(),
// truthiness, equality, ordering and json.dumps (as transformers' `tojson` calls it).
// Follows Jinja2's semantics as used by transformers' chat templates, where template values
// are Python objects; the interpreter mimics the Python behaviour templates rely on.
// Internal only: callers pass and receive ``JinjaValue``.

import Foundation

/// A Jinja namespace object: the one mutable value (`{% set ns.x = … %}`).
final class JinjaNamespace {
    var attributes = JinjaDict()
}

/// A callable: a builtin global, a bound method, a macro or `loop.cycle`.
struct JinjaCallable {
    var name: String
    var call: ([JinjaRuntimeValue], [(String, JinjaRuntimeValue)]) throws -> JinjaRuntimeValue
}

/// An insertion-ordered dictionary with string keys.
struct JinjaDict {
    private(set) var keys: [String] = []
    private var storage: [String: JinjaRuntimeValue] = [:]

    subscript(key: String) -> JinjaRuntimeValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    var count: Int { keys.count }
    var values: [JinjaRuntimeValue] { keys.map { storage[$0]! } }
    var entries: [(String, JinjaRuntimeValue)] { keys.map { ($0, storage[$0]!) } }
}

/// A value as the interpreter sees it.
enum JinjaRuntimeValue {
    /// Jinja's `Undefined`, carrying the message to raise if it is used in a strict way.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaRuntimeValue])
    /// A Python tuple: a literal `(a, b)`, or the pairs of `items()`; prints as `(a, b)`.
    case tuple([JinjaRuntimeValue])
    case dict(JinjaDict)
    case namespace(JinjaNamespace)
    case callable(JinjaCallable)

    init(_ value: JinjaValue) {
        switch value {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(JinjaRuntimeValue.init))
        case .object(let o):
            var d = JinjaDict()
            for (k, v) in o.entries { d[k] = JinjaRuntimeValue(v) }
            self = .dict(d)
        }
    }

    /// Python's type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python's `bool(x)`.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l), .tuple(let l): return !l.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .callable: return true
        }
    }

    /// Python's `str(x)`; Jinja prints `Undefined` as an empty string.
    var pyStr: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pyRepr
        }
    }

    /// Python's `repr(x)`; an Undefined inside a container prints as `Undefined`.
    var pyRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaRuntimeValue.pyFloatRepr(d)
        case .string(let s): return JinjaRuntimeValue.pyStringRepr(s)
        case .list(let l): return "[" + l.map(\.pyRepr).joined(separator: ", ") + "]"
        case .tuple(let l): return "(" + l.map(\.pyRepr).joined(separator: ", ") + (l.count == 1 ? ",)" : ")")
        case .dict(let d):
            return "{" + d.entries.map { JinjaRuntimeValue.pyStringRepr($0.0) + ": " + $0.1.pyRepr }.joined(separator: ", ") + "}"
        case .namespace(let n):
            return "<Namespace " + JinjaRuntimeValue.dict(n.attributes).pyRepr + ">"
        case .callable(let c): return "<function \(c.name)>"
        }
    }

    /// Python's float repr: shortest round-trip digits, scientific outside 1e-4 ..< 1e16.
    static func pyFloatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        var text = "\(abs(d))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var point = intPart.count + exponent
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        let exp10 = point - 1
        let sign = d < 0 ? "-" : ""
        if exp10 >= -4 && exp10 < 16 {
            if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + digits }
            if point >= digits.count { return sign + digits + String(repeating: "0", count: point - digits.count) + ".0" }
            let i = digits.index(digits.startIndex, offsetBy: point)
            return sign + digits[..<i] + "." + digits[i...]
        }
        let mantissa = digits.count > 1 ? String(digits.first!) + "." + digits.dropFirst() : digits
        let e = abs(exp10)
        return sign + mantissa + "e" + (exp10 < 0 ? "-" : "+") + (e < 10 ? "0" : "") + String(e)
    }

    /// Python's `repr(str)`: single quotes unless the text has one and no double quote.
    static func pyStringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == quote {
                    out += "\\" + String(quote)
                } else if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + hex(u.value, width: 2)
                } else if u.value >= 0x80 && u.value < 0xA0 {
                    out += "\\x" + hex(u.value, width: 2)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// Python's `==`.
    static func pyEqual(_ a: JinjaRuntimeValue, _ b: JinjaRuntimeValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { pyEqual($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.entries.allSatisfy { k, v in y[k].map { pyEqual(v, $0) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = a.numeric, let y = b.numeric {
                if case .int(let i) = x, case .int(let j) = y { return i == j }
                return x.asDouble == y.asDouble
            }
            return false
        }
    }

    /// Ints and bools as `.int`, floats as `.double`; nil for non-numbers.
    var numeric: JinjaRuntimeValue? {
        switch self {
        case .int, .double: return self
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }

    var asDouble: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return .nan
        }
    }

    /// Python's `<`; nil when the types cannot be ordered (a TypeError in Python).
    static func pyLess(_ a: JinjaRuntimeValue, _ b: JinjaRuntimeValue) -> Bool? {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !pyEqual(p, q) { return pyLess(p, q) }
            return x.count < y.count
        default:
            guard let x = a.numeric, let y = b.numeric else { return nil }
            if case .int(let i) = x, case .int(let j) = y { return i < j }
            return x.asDouble < y.asDouble
        }
    }

    /// The value as public data; nil for namespaces, callables and undefined values.
    var publicValue: JinjaValue? {
        switch self {
        case .undefined, .namespace, .callable: return nil
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .list(let l), .tuple(let l):
            var out: [JinjaValue] = []
            for item in l {
                guard let v = item.publicValue else { return nil }
                out.append(v)
            }
            return .array(out)
        case .dict(let d):
            var o = JinjaObject()
            for (k, v) in d.entries {
                guard let pv = v.publicValue else { return nil }
                o[k] = pv
            }
            return .object(o)
        }
    }
}

/// Python's `json.dumps` with the options transformers' `tojson` passes through.
struct JinjaJSONWriter {
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false
    var ensureASCII = false

    init(indent: String?, separators: (String, String)? = nil, sortKeys: Bool = false, ensureASCII: Bool = false) {
        self.indent = indent
        // json.dumps uses (', ', ': ') without indent and (',', ': ') with it.
        itemSeparator = separators?.0 ?? (indent == nil ? ", " : ",")
        keySeparator = separators?.1 ?? ": "
        self.sortKeys = sortKeys
        self.ensureASCII = ensureASCII
    }

    func encode(_ value: JinjaRuntimeValue, level: Int = 0) throws -> String {
        guard level < 256 else { throw ChatTemplateError.limitExceeded(what: "tojson nesting depth", limit: 256) }
        switch value {
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return JinjaRuntimeValue.pyFloatRepr(d)
        case .string(let s): return quote(s)
        case .list(let items), .tuple(let items):
            if items.isEmpty { return "[]" }
            return try container("[", "]", items.map { try encode($0, level: level + 1) }, level: level)
        case .dict(let d):
            if d.count == 0 { return "{}" }
            var entries = d.entries
            if sortKeys {
                entries.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) }
            }
            return try container("{", "}", entries.map { quote($0.0) + keySeparator + (try encode($0.1, level: level + 1)) }, level: level)
        case .undefined, .namespace, .callable:
            throw ChatTemplateError.runtime(message: "Object of type \(value.typeName) is not JSON serializable")
        }
    }

    func container(_ open: String, _ close: String, _ parts: [String], level: Int) -> String {
        guard let indent else { return open + parts.joined(separator: itemSeparator) + close }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        let outer = "\n" + String(repeating: indent, count: level)
        return open + inner + parts.joined(separator: itemSeparator + inner) + outer + close
    }

    func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out += "\\u" + JinjaRuntimeValue.hex(u.value, width: 4)
                } else if ensureASCII && u.value > 0x7F {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += "\\u" + JinjaRuntimeValue.hex(0xD800 + (v >> 10), width: 4)
                        out += "\\u" + JinjaRuntimeValue.hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + JinjaRuntimeValue.hex(u.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
