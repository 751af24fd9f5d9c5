/// The MeterProof release this build belongs to.
public enum MeterProofVersion {
    /// This release as `major.minor.patch`: shown by `meterproof --version` and written into
    /// trails (`created_by`), bundle manifests (`tool`) and reports.
    public static let string = "0.1.0"
}
