// Errors thrown when reading or writing checkpoint files (safetensors, GGUF).

/// A checkpoint file could not be read or written; every case names the file and the part at fault.
public enum CheckpointError: Error, Equatable, Sendable {
    /// The file could not be opened, mapped or written.
    case io(path: String, reason: String)
}
