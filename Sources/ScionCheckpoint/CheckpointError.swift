// Errors thrown when reading or writing checkpoint files (safetensors, GGUF).
// Every case names the file (path, or a caller-chosen label for in-memory bytes) and, where there is
// one, the tensor or metadata key at fault, so a malformed download is diagnosed from the message alone.
// Load paths never trap on bad input: a lying header gives one of these, never a crash.

/// A checkpoint file could not be read or written; every case names the file and the part at fault.
public enum CheckpointError: Error, Equatable, Sendable {
    /// The file could not be opened, mapped or written.
    case io(path: String, reason: String)
    /// The file ends before a structure it declares (`needed` bytes at byte `offset`).
    case truncated(path: String, offset: Int, needed: Int, what: String)
    /// The safetensors header length points beyond the end of the file (or is absurdly large).
    case headerLengthOutOfRange(path: String, headerLength: UInt64, fileSize: Int)
    /// The safetensors header is not valid JSON, or is JSON of the wrong shape.
    case invalidJSON(path: String, reason: String)
    /// A tensor entry in a header is malformed (missing field, negative dimension, bad type …).
    case invalidTensorInfo(path: String, tensor: String, reason: String)
    /// A dtype name (safetensors) or ggml type number (GGUF) that this reader does not know.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's byte range lies outside the data section.
    case offsetsOutOfBounds(path: String, tensor: String, begin: UInt64, end: UInt64, dataSize: Int)
    /// Tensor byte ranges overlap, leave a gap, or do not cover the data section exactly.
    case rangeNotContiguous(path: String, tensor: String, expectedBegin: UInt64, actualBegin: UInt64)
    /// The data section holds bytes that no tensor claims.
    case trailingData(path: String, expectedSize: UInt64, actualSize: Int)
    /// dtype × shape does not equal the tensor's byte length.
    case byteCountMismatch(path: String, tensor: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    /// Two tensors (or two metadata keys) share a name.
    case duplicateName(path: String, name: String)
    /// A metadata entry is malformed (safetensors: a non-string value; GGUF: bad value type, wrong type for a key).
    case invalidMetadata(path: String, key: String, reason: String)
    /// A required metadata key is absent.
    case missingMetadata(path: String, key: String)
    /// The file does not start with the GGUF magic.
    case badMagic(path: String)
    /// A GGUF version other than 2 or 3.
    case unsupportedVersion(path: String, version: UInt32)
    /// A tensor name that the checkpoint does not contain.
    case tensorNotFound(path: String, tensor: String)
    /// The operation is not available for this tensor's type (for example dequantizing an IQ type).
    case unsupportedOperation(path: String, tensor: String, reason: String)
}

extension CheckpointError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): \(reason)"
        case let .truncated(path, offset, needed, what):
            return "\(path): truncated: \(what) needs \(needed) bytes at offset \(offset)"
        case let .headerLengthOutOfRange(path, length, size):
            return "\(path): header length \(length) does not fit in a file of \(size) bytes"
        case let .invalidJSON(path, reason): return "\(path): invalid header JSON: \(reason)"
        case let .invalidTensorInfo(path, tensor, reason): return "\(path): tensor '\(tensor)': \(reason)"
        case let .unsupportedDType(path, tensor, dtype): return "\(path): tensor '\(tensor)': unsupported dtype \(dtype)"
        case let .offsetsOutOfBounds(path, tensor, begin, end, size):
            return "\(path): tensor '\(tensor)': byte range [\(begin), \(end)) outside data of \(size) bytes"
        case let .rangeNotContiguous(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)': data starts at \(actual), expected \(expected) (overlap or gap)"
        case let .trailingData(path, expected, actual):
            return "\(path): tensors cover \(expected) bytes but the data section has \(actual)"
        case let .byteCountMismatch(path, tensor, shape, dtype, expected, actual):
            return "\(path): tensor '\(tensor)': \(dtype) \(shape) needs \(expected) bytes, range has \(actual)"
        case let .duplicateName(path, name): return "\(path): duplicate name '\(name)'"
        case let .invalidMetadata(path, key, reason): return "\(path): metadata '\(key)': \(reason)"
        case let .missingMetadata(path, key): return "\(path): missing metadata '\(key)'"
        case let .badMagic(path): return "\(path): not a GGUF file (bad magic)"
        case let .unsupportedVersion(path, version): return "\(path): unsupported GGUF version \(version)"
        case let .tensorNotFound(path, tensor): return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedOperation(path, tensor, reason): return "\(path): tensor '\(tensor)': \(reason)"
        }
    }
}
