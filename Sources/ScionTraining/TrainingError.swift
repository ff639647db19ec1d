// The errors of ScionTraining: each case carries the key, path or step at fault.

import Foundation

/// A training failure, with the key, file or step that caused it.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A config key is unknown, missing, of the wrong type or out of range.
    case invalidConfig(path: String, reason: String)
    /// A file or folder could not be read or written.
    case io(path: String, reason: String)
    /// The output folder holds a different run (pass resume or overwrite).
    case outputHoldsDifferentRun(path: String)
    /// A loss or gradient became NaN or infinite.
    case nonFinite(step: Int, tensor: String, value: Double)
    /// A checkpoint is missing or incomplete.
    case badCheckpoint(path: String, reason: String)
    /// The model or data cannot be used as configured.
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidConfig(let path, let reason):
            return path.isEmpty ? "config: \(reason)" : "config key \(path): \(reason)"
        case .io(let path, let reason): return "\(path): \(reason)"
        case .outputHoldsDifferentRun(let path):
            return "\(path) already holds a different run; pass --resume to continue it or --overwrite to replace it"
        case .nonFinite(let step, let tensor, let value):
            return "non-finite value (\(value)) at step \(step) in \(tensor); the last good checkpoint is kept"
        case .badCheckpoint(let path, let reason): return "\(path): bad checkpoint: \(reason)"
        case .unsupported(let reason): return reason
        }
    }
}
