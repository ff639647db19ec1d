// Errors of the growth operators. Every operator validates its target shape before it builds a
// tensor or writes a file, and names the constraint that failed.

import Foundation

/// Why a checkpoint could not be grown (or shrunk).
public enum GrowthError: Error, Equatable, CustomStringConvertible {
    /// The requested target shape violates a constraint of the operator: `constraint` states the
    /// rule (for example "num_attention_heads % num_key_value_heads == 0") and `detail` the values.
    case constraintViolated(operator: String, constraint: String, detail: String)
    /// The operator does not handle this architecture or checkpoint layout.
    case unsupported(operator: String, reason: String)
    /// The checkpoint itself is malformed (missing keys, unexpected shapes, unreadable config).
    case invalidCheckpoint(String)

    public var description: String {
        switch self {
        case .constraintViolated(let op, let c, let d): return "\(op): constraint '\(c)' failed: \(d)"
        case .unsupported(let op, let r): return "\(op): unsupported: \(r)"
        case .invalidCheckpoint(let m): return "invalid checkpoint: \(m)"
        }
    }
}
