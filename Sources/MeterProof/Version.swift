/// The MeterProof release this build belongs to.
public enum MeterProofVersion {
    public static let string = "0.1.0"
}
