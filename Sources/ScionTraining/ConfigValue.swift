// A configuration as a plain tree (YAML or JSON parsed without a schema), and a strict `Decoder`
// over it: every key a type does not read and every value of the wrong type is an error naming the
// key path ("optimizer.beta2") and the expected type, found before any work starts.
// Not a general YAML library: anchors, tags and multi-document streams are left to Yams.

import Foundation
import Yams

/// A configuration value: the schema-free tree that YAML, JSON and `--set` overrides parse into.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    /// `null` or `~`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// An integer.
    case int(Int)
    /// A number with a fraction or exponent.
    case double(Double)
    /// Text (quoted, or a plain scalar that is nothing else).
    case string(String)
    /// A list.
    case array([ConfigValue])
    /// A mapping; keys keep their order in the source.
    case object([(String, ConfigValue)])

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// What kind of value this is, for error messages ("a string", "a mapping").
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "a mapping"
        }
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { "\($0.0): \($0.1.description)" }.joined(separator: ", ") + "}"
        }
    }

    /// The value under `key` of a mapping.
    public subscript(key: String) -> ConfigValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.last { $0.0 == key }?.1
    }

    // MARK: Parsing

    /// Parses YAML (a superset of JSON) into a tree.
    ///
    /// - Throws: ``TrainingError/invalidConfig(path:reason:)`` for malformed YAML or non-string keys.
    public static func parseYAML(_ text: String) throws -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw TrainingError.invalidConfig(path: "", reason: "not valid YAML: \(error)")
        }
        guard let node else { return .object([]) }
        return try ConfigValue(node: node, path: "")
    }

    init(node: Node, path: String) throws {
        switch node {
        case .scalar(let s):
            self = ConfigValue.scalar(s.string, tag: Tag.Name(rawValue: node.tag.description), node: node)
        case .sequence(let seq):
            self = .array(try seq.enumerated().map { try ConfigValue(node: $1, path: "\(path)[\($0)]") })
        case .mapping(let map):
            var pairs: [(String, ConfigValue)] = []
            for (k, v) in map {
                guard let key = k.string else {
                    throw TrainingError.invalidConfig(path: path, reason: "keys must be strings")
                }
                let child = path.isEmpty ? key : "\(path).\(key)"
                if pairs.contains(where: { $0.0 == key }) {
                    throw TrainingError.invalidConfig(path: child, reason: "duplicate key")
                }
                pairs.append((key, try ConfigValue(node: v, path: child)))
            }
            self = .object(pairs)
        }
    }

    static func scalar(_ string: String, tag: Tag.Name, node: Node) -> ConfigValue {
        switch tag {
        case .null: return .null
        case .bool: return node.bool.map { .bool($0) } ?? .string(string)
        case .int: return node.int.map { .int($0) } ?? .string(string)
        case .float: return node.float.map { .double($0) } ?? .string(string)
        default: return .string(string)
        }
    }

    /// Parses one scalar as YAML would (`3` an integer, `1e-3` a number, `true` a boolean, `[1, 2]`
    /// a list, anything else a string), for `--set key=value`.
    public static func parseScalar(_ text: String) -> ConfigValue {
        (try? parseYAML(text)).flatMap { v -> ConfigValue? in
            if case .object(let o) = v, o.isEmpty { return .string(text) }
            return v
        } ?? .string(text)
    }

    // MARK: Overrides

    /// Returns a copy with `value` at the dotted `path` ("optimizer.beta2"), creating mappings as needed.
    ///
    /// - Throws: ``TrainingError/invalidConfig(path:reason:)`` when a prefix of the path is not a mapping.
    public func setting(_ path: String, to value: ConfigValue) throws -> ConfigValue {
        let parts = path.split(separator: ".").map(String.init)
        guard !parts.isEmpty else { throw TrainingError.invalidConfig(path: path, reason: "empty key") }
        return try setting(parts[...], to: value, prefix: "")
    }

    private func setting(_ parts: ArraySlice<String>, to value: ConfigValue, prefix: String) throws -> ConfigValue {
        guard let head = parts.first else { return value }
        let here = prefix.isEmpty ? head : "\(prefix).\(head)"
        var pairs: [(String, ConfigValue)]
        switch self {
        case .object(let o): pairs = o
        case .null: pairs = []
        default:
            throw TrainingError.invalidConfig(path: prefix, reason: "cannot set \(here): \(prefix) is \(kindDescription), not a mapping")
        }
        let existing = pairs.firstIndex { $0.0 == head }
        let child = existing.map { pairs[$0].1 } ?? .null
        let updated = try child.setting(parts.dropFirst(), to: value, prefix: here)
        if let existing { pairs[existing].1 = updated } else { pairs.append((head, updated)) }
        return .object(pairs)
    }
}
