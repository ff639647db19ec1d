// Data values passed into chat templates: messages, tools and extra variables.
// A JSON-shaped value with ordered objects, because transformers' `tojson` keeps insertion
// order (sort_keys=False) and templates iterate dict items in that order.
// This is the public data model only; the interpreter's runtime values (namespaces, macros,
// loop objects) are internal and live in JinjaRuntimeValue.swift.
// Follows Jinja2's semantics as used by transformers' chat templates.

import Foundation

/// A JSON-like value that can be passed into a chat template.
///
/// Objects keep their key order, because transformers renders `tojson` with
/// `sort_keys=False` and templates iterate over `items()` in insertion order.
///
/// ```swift
/// let tool: JinjaValue = ["type": "function", "function": ["name": "get_weather"]]
/// ```
public enum JinjaValue: Sendable, Equatable {
    /// Python's `None` (JSON `null`).
    case null
    /// A boolean.
    case bool(Bool)
    /// An integer.
    case int(Int)
    /// A floating-point number.
    case double(Double)
    /// A string.
    case string(String)
    /// A list.
    case array([JinjaValue])
    /// A mapping with string keys, in insertion order.
    case object(JinjaObject)
}

/// An insertion-ordered mapping from strings to ``JinjaValue``.
///
/// Setting an existing key replaces its value in place; new keys are appended.
///
/// ```swift
/// var message: JinjaObject = ["role": "user"]
/// message["content"] = "Hi"
/// ```
public struct JinjaObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// The keys, in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    /// Creates an empty object.
    public init() {}

    /// Creates an object from key-value pairs; later duplicates replace earlier values.
    ///
    /// - Parameter pairs: The entries, in order.
    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    /// Creates an object from a dictionary literal, keeping the literal's order.
    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        self.init(elements)
    }

    /// The value for `key`, or `nil`. Assigning `nil` removes the key.
    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The entries, in insertion order.
    public var entries: [(key: String, value: JinjaValue)] {
        keys.map { ($0, storage[$0]!) }
    }

    /// The number of entries.
    public var count: Int { keys.count }

    /// Two objects are equal when they have the same keys in the same order and equal values.
    public static func == (lhs: JinjaObject, rhs: JinjaObject) -> Bool {
        lhs.keys == rhs.keys && lhs.storage == rhs.storage
    }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    /// Creates a ``string(_:)`` from a string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// Creates an ``int(_:)`` from an integer literal.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// Creates a ``double(_:)`` from a float literal.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// Creates a ``bool(_:)`` from `true` or `false`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// Creates an ``array(_:)`` from an array literal.
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    /// Creates an ``object(_:)`` from a dictionary literal, keeping the literal's order.
    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        self = .object(JinjaObject(elements))
    }
    /// Creates ``null`` from `nil`.
    public init(nilLiteral: ()) { self = .null }
}

extension JinjaValue {
    /// The string payload, or `nil` when this is not a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Parses JSON text into a value, keeping object key order.
    ///
    /// Integers without a fraction or exponent become ``int(_:)``; other numbers become
    /// ``double(_:)``, as Python's `json.loads` does.
    ///
    /// - Parameter jsonData: UTF-8 JSON text.
    /// - Throws: ``ChatTemplateError/invalidJSON(reason:)`` when the text is not valid JSON.
    ///
    /// ```swift
    /// let v = try JinjaValue(jsonData: Data(#"{"b": 1, "a": [true, null]}"#.utf8))
    /// ```
    public init(jsonData: Data) throws {
        var parser = JinjaJSONParser(bytes: [UInt8](jsonData))
        self = try parser.parseDocument()
    }
}

/// An order-preserving JSON reader (Foundation's `JSONSerialization` loses key order).
struct JinjaJSONParser {
    let bytes: [UInt8]
    var pos = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JinjaValue {
        // Skip a UTF-8 byte order mark.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3 }
        let value = try parseValue()
        skipSpace()
        if pos != bytes.count { throw fail("trailing characters") }
        return value
    }

    func fail(_ reason: String) -> ChatTemplateError {
        .invalidJSON(reason: "\(reason) at byte \(pos)")
    }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    mutating func parseValue() throws -> JinjaValue {
        skipSpace()
        guard pos < bytes.count else { throw fail("unexpected end") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw fail("nesting too deep") }
            pos += 1
            var object = JinjaObject()
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(object) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected key") }
                let key = try parseString()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                pos += 1
                object[key] = try parseValue()
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(object) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw fail("nesting too deep") }
            pos += 1
            var items: [JinjaValue] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                items.append(try parseValue())
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try parseNumber()
        }
    }

    mutating func literal(_ word: String, _ value: JinjaValue) throws -> JinjaValue {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
            throw fail("invalid literal")
        }
        pos += w.count
        return value
    }

    mutating func parseNumber() throws -> JinjaValue {
        let start = pos
        var isInteger = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x30 && c <= 0x39 {
                pos += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
            {
                isInteger = false
                pos += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        if let d = Double(text), !text.isEmpty, text != "-" { return .double(d) }
        pos = start
        throw fail("invalid number")
    }

    mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count,
            let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16)
        else { throw fail("invalid \\u escape") }
        pos += 4
        return v
    }

    mutating func parseString() throws -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let c = bytes[pos]
            pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard pos < bytes.count else { throw fail("unterminated string") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if code >= 0xD800 && code < 0xDC00, pos + 1 < bytes.count,
                    bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                {
                    pos += 2
                    let low = try parseHex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        throw fail("invalid surrogate pair")
                    }
                }
                // NOTE: lone surrogates cannot live in a Swift String; they become U+FFFD.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
