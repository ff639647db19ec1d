// The library version, reported by `scion doctor` and written into checkpoints' lineage.

/// Scion's version.
public enum ScionVersion {
    /// Semantic version string.
    public static let string = "0.1.0"
}
