// A strict `Decoder` over a `ConfigValue` tree. It records every key a type reads; afterwards any
// key present but never read is reported as unknown. Type errors name the key path and the
// expected type. Integers are accepted where numbers are expected, and integral numbers where
// integers are; nothing else is converted (no "3" → 3).

import Foundation

/// Decodes `Decodable` types from a ``ConfigValue`` strictly.
///
/// ```swift
/// let tree = try ConfigValue.parseYAML("steps: 10\nbogus: 1")
/// try StrictConfigDecoder.decode(TrainingConfig.self, from: tree)   // throws: bogus: unknown key
/// ```
public enum StrictConfigDecoder {
    /// Decodes `type` from `value`, then rejects keys the type did not read.
    ///
    /// - Throws: ``TrainingError/invalidConfig(path:reason:)`` naming the key path and the expected
    ///   type, or the first unknown key with the keys that are allowed there.
    public static func decode<T: Decodable>(_ type: T.Type, from value: ConfigValue) throws -> T {
        let log = ReadLog()
        let result: T
        do {
            result = try T(from: TreeDecoder(value: value, path: [], log: log))
        } catch let e as TrainingError {
            throw e
        } catch let e as DecodingError {
            throw translate(e)
        }
        if let (path, key) = firstUnknown(value, path: "", log: log) {
            let full = path.isEmpty ? key : "\(path).\(key)"
            let allowed = log.read[path].map { Array($0).sorted() } ?? []
            throw TrainingError.invalidConfig(
                path: full, reason: "unknown key" + (allowed.isEmpty ? "" : " (expected one of: \(allowed.joined(separator: ", ")))"))
        }
        return result
    }

    static func firstUnknown(_ value: ConfigValue, path: String, log: ReadLog) -> (String, String)? {
        switch value {
        case .object(let pairs):
            let read = log.read[path] ?? []
            for (k, v) in pairs {
                if !read.contains(k) { return (path, k) }
                if let u = firstUnknown(v, path: path.isEmpty ? k : "\(path).\(k)", log: log) { return u }
            }
        case .array(let items):
            for (i, v) in items.enumerated() {
                if let u = firstUnknown(v, path: "\(path)[\(i)]", log: log) { return u }
            }
        default: break
        }
        return nil
    }

    static func pathString(_ codingPath: [CodingKey]) -> String {
        var s = ""
        for k in codingPath {
            if let i = k.intValue, k.stringValue.hasPrefix("Index") || k.stringValue == "\(i)" { s += "[\(i)]" }
            else { s += s.isEmpty ? k.stringValue : ".\(k.stringValue)" }
        }
        return s
    }

    static func translate(_ e: DecodingError) -> TrainingError {
        switch e {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return .invalidConfig(path: pathString(c.codingPath), reason: c.debugDescription)
        case .keyNotFound(let key, let c):
            return .invalidConfig(path: pathString(c.codingPath + [key]), reason: "missing required key")
        @unknown default:
            return .invalidConfig(path: "", reason: "\(e)")
        }
    }
}

/// Which keys were read, by the path of their mapping.
final class ReadLog {
    var read: [String: Set<String>] = [:]
    func note(_ path: String, _ key: String) { read[path, default: []].insert(key) }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}

/// Human names of the types a config decodes.
func typeName(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is UInt64.Type, is Int64.Type, is Int32.Type, is UInt.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "a boolean (true/false)"
    case is String.Type: return "a string"
    default: return "\(type)"
    }
}

struct TreeDecoder: Decoder {
    let value: ConfigValue
    let path: [CodingKey]
    let log: ReadLog
    var codingPath: [CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    var pathString: String { StrictConfigDecoder.pathString(path) }

    func mismatch(_ expected: String) -> TrainingError {
        .invalidConfig(path: pathString, reason: "expected \(expected), got \(value.kindDescription) (\(value))")
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let pairs) = value else { throw mismatch("a mapping") }
        // An empty mapping is still a mapping that was read.
        log.read[pathString, default: []].formUnion([])
        return KeyedDecodingContainer(KeyedTree<Key>(pairs: pairs, decoder: self))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch("a list") }
        return UnkeyedTree(items: items, decoder: self)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleTree(decoder: self) }

    func child(_ v: ConfigValue, _ key: CodingKey) -> TreeDecoder { TreeDecoder(value: v, path: path + [key], log: log) }

    // Scalars.
    func decodeScalar<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Bool.Type:
            if case .bool(let b) = value { return b as! T }
        case is String.Type:
            if case .string(let s) = value { return s as! T }
        case is Double.Type:
            if case .double(let d) = value { return d as! T }
            if case .int(let i) = value { return Double(i) as! T }
        case is Float.Type:
            if case .double(let d) = value { return Float(d) as! T }
            if case .int(let i) = value { return Float(i) as! T }
        default:
            if let integer = type as? any BinaryInteger.Type {
                var i: Int? = nil
                if case .int(let v) = value { i = v } else if case .double(let d) = value { i = Int(exactly: d) }
                if let i, let r = makeInteger(integer, i) { return r as! T }
                throw mismatch(typeName(type))
            }
            return try T(from: self)
        }
        throw mismatch(typeName(type))
    }
}

func makeInteger<I: BinaryInteger>(_ type: I.Type, _ value: Int) -> I? { I(exactly: value) }

struct KeyedTree<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let pairs: [(String, ConfigValue)]
    let decoder: TreeDecoder
    var codingPath: [CodingKey] { decoder.path }
    var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.0) } }

    func lookup(_ key: Key) -> ConfigValue? {
        decoder.log.note(decoder.pathString, key.stringValue)
        return pairs.last { $0.0 == key.stringValue }?.1
    }

    func contains(_ key: Key) -> Bool { pairs.contains { $0.0 == key.stringValue } }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let v = lookup(key) else { return true }
        return v == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decode(type, generic: key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type as Bool.Type, generic: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type as String.Type, generic: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type as Double.Type, generic: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type as Float.Type, generic: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type as Int.Type, generic: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type as Int8.Type, generic: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type as Int16.Type, generic: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type as Int32.Type, generic: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type as Int64.Type, generic: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type as UInt.Type, generic: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type as UInt8.Type, generic: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type as UInt16.Type, generic: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type as UInt32.Type, generic: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type as UInt64.Type, generic: key) }

    func decode<T: Decodable>(_ type: T.Type, generic key: Key) throws -> T {
        guard let v = lookup(key) else {
            throw TrainingError.invalidConfig(path: StrictConfigDecoder.pathString(codingPath + [key]),
                                              reason: "missing required key (\(typeName(type)))")
        }
        return try decoder.child(v, key).decodeScalar(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = lookup(key), v != .null else { return nil }
        return try decoder.child(v, key).decodeScalar(type)
    }

    func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
        try decoder.child(lookup(key) ?? .null, key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try decoder.child(lookup(key) ?? .null, key).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { decoder.child(lookup(key) ?? .null, key) }
}

struct UnkeyedTree: UnkeyedDecodingContainer {
    let items: [ConfigValue]
    let decoder: TreeDecoder
    var currentIndex = 0
    var codingPath: [CodingKey] { decoder.path }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next() throws -> TreeDecoder {
        guard !isAtEnd else {
            throw TrainingError.invalidConfig(path: decoder.pathString, reason: "list too short")
        }
        defer { currentIndex += 1 }
        return decoder.child(items[currentIndex], AnyKey(intValue: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        if !isAtEnd, items[currentIndex] == .null { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeScalar(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decodeScalar(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decodeScalar(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decodeScalar(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decodeScalar(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decodeScalar(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decodeScalar(type) }

    mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

struct SingleTree: SingleValueDecodingContainer {
    let decoder: TreeDecoder
    var codingPath: [CodingKey] { decoder.path }
    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeScalar(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeScalar(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeScalar(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeScalar(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.decodeScalar(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeScalar(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeScalar(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeScalar(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeScalar(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeScalar(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeScalar(type) }
}
