import MeterProof

/// Why an export could not be written, or a bundle could not be read at all: a stable code
/// and one sentence.
///
/// A bundle that can be read but fails a check is not an error: ``BundleVerifier`` reports
/// that as a ``BundleVerification`` with a problem code.
public struct ExportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable snake_case code (see docs/export-bundle.md).
    public struct Code: StableCode {
        /// The stable snake_case code, e.g. `bundle_exists`.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        /// The ``rawValue``.
        public var description: String { rawValue }

        /// Parses a code from its snake_case spelling: an export code or, for a failure to
        /// read the trail, an ``AuditError/Code``.
        public init?(rawValue: String) {
            guard Self.allCases.contains(where: { $0.rawValue == rawValue }) else { return nil }
            self.rawValue = rawValue
        }

        /// Every code an export can produce: its own, then the trail's (``AuditError/Code/allCases``).
        public static var allCases: [Code] {
            [.bundleExists, .badOutput, .noCheckpoint, .missingKey, .keyVersionConflict, .writeFailed, .notABundle, .interrupted]
                + AuditError.Code.allCases.filter { $0.rawValue != Code.noCheckpoint.rawValue }.map { Code($0.rawValue) }
        }

        /// The output directory exists and is not empty (or is not a directory).
        public static let bundleExists = Code("bundle_exists")
        /// The output directory's parent does not exist or is not a directory.
        public static let badOutput = Code("bad_output")
        /// The trail has no signed checkpoint and no signing key was given.
        public static let noCheckpoint = Code("no_checkpoint")
        /// An accepted entry was verified by a key the trail does not hold.
        public static let missingKey = Code("missing_key")
        /// Two different keys answered for one `PublicKeyVersion` within the selection.
        public static let keyVersionConflict = Code("key_version_conflict")
        /// Writing a bundle file failed (disk full, I/O error, permissions).
        public static let writeFailed = Code("write_failed")
        /// The bundle directory given to the verifier (`BundleVerifier`, `export verify`) is not
        /// a readable directory.
        public static let notABundle = Code("not_a_bundle")
        /// The export was asked to stop (SIGINT, SIGTERM) before it published the bundle;
        /// nothing is left behind.
        public static let interrupted = Code("interrupted")
    }

    /// The stable code: an export code, or the trail error's own.
    public var code: Code
    /// A human sentence; its wording may change.
    public var reason: String
    /// The trail error behind this one, when reading the trail failed (its code is `code`).
    public var trailError: AuditError?

    /// An error with one of the export codes and a human `reason`.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
        self.trailError = nil
    }

    /// Wraps a trail error, keeping its code.
    public init(_ trailError: AuditError) {
        self.code = Code(trailError.code.rawValue)
        self.reason = trailError.reason
        self.trailError = trailError
    }

    /// `code: reason`, e.g. `bundle_exists: …`.
    public var description: String { "\(code.rawValue): \(reason)" }

    /// An export stopped because ``ExportOptions/shouldStop`` asked it to.
    static let interruptedExport = ExportError(.interrupted, "the export was interrupted; nothing was published and its temporary directory was removed")
}
