// GGUF metadata values: the 13 value types of the GGUF spec (ggml/docs/gguf.md), arrays nested to any depth.
// Plain data plus typed accessors; parsing lives in GGUFFile.swift and encoding in GGUFWriter.swift.

/// The type tag of a GGUF metadata value (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The least bytes one value of this type can occupy (caps array counts against the file size).
    var minimumByteCount: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// A GGUF metadata value.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    /// An array: element type and elements (arrays may nest).
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value's type tag.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Any integer type as `Int` (nil for other types or a `UInt64` beyond `Int.max`).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Any number (integer or float) as `Double`.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    /// The string, for `.string`.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The flag, for `.bool`.
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The elements, for `.array`.
    public var arrayValue: [GGUFValue]? { if case .array(_, let a) = self { return a } else { return nil } }

    /// The value as JSON; arrays longer than `maxArrayCount` become `{"count": n, "first": [...]}`.
    public func json(maxArrayCount: Int = .max) -> JSONValue {
        switch self {
        case .uint8(let v): return .int(Int64(v))
        case .int8(let v): return .int(Int64(v))
        case .uint16(let v): return .int(Int64(v))
        case .int16(let v): return .int(Int64(v))
        case .uint32(let v): return .int(Int64(v))
        case .int32(let v): return .int(Int64(v))
        case .uint64(let v): return .uint(v)
        case .int64(let v): return .int(v)
        case .float32(let v): return .double(Double(v))
        case .float64(let v): return .double(v)
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .array(_, let items):
            let shown = items.prefix(maxArrayCount).map { $0.json(maxArrayCount: maxArrayCount) }
            if items.count <= maxArrayCount { return .array(shown) }
            return .object(["count": .int(Int64(items.count)), "first": .array(shown)])
        }
    }
}
