/// What was received from `RegisterUsage`, in any of the accepted shapes.
///
/// Accepted input: a bare compact token (optionally as a JSON string); the AWS response object
/// `{"Signature": …, "PublicKeyRotationTimestamp": …}`; the same object with extra members
/// (boto3's `ResponseMetadata` and other SDK additions are ignored); or an SDK envelope object
/// with exactly one member holding such a response object. Surrounding whitespace is trimmed.
public struct RegisterUsageResponse: Sendable {
    /// The compact JWS.
    public let token: String
    /// `PublicKeyRotationTimestamp` in seconds since the epoch, when present, non-null and
    /// readable as a time (see ``rotationTimestampText`` for the value as written).
    public let rotationTimestamp: Int64?
    /// `PublicKeyRotationTimestamp` as written (number or string), for reports; set whenever
    /// the member is present and not `null`, even when it is not a time MeterProof can read.
    public let rotationTimestampText: String?

    /// A response from parts already known: `rotationTimestamp` in epoch **seconds** (`nil` when
    /// none), ``rotationTimestampText`` its decimal text. Nothing is checked here; verification
    /// judges the token.
    public init(token: String, rotationTimestamp: Int64? = nil) {
        self.token = token
        self.rotationTimestamp = rotationTimestamp
        self.rotationTimestampText = rotationTimestamp.map { String($0) }
    }

    init(token: String, rotationTimestamp: Int64?, rotationTimestampText: String?) {
        self.token = token
        self.rotationTimestamp = rotationTimestamp
        self.rotationTimestampText = rotationTimestampText
    }

    /// Reads any accepted shape from raw bytes.
    public init(parsing input: some Collection<UInt8>) throws(VerificationError) {
        var bytes = Array(input)
        // Trim ASCII whitespace around the whole input (never inside a token).
        var lo = 0, hi = bytes.count
        func ws(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while lo < hi && ws(bytes[lo]) { lo += 1 }
        while hi > lo && ws(bytes[hi - 1]) { hi -= 1 }
        guard lo < hi else { throw VerificationError(.malformedInput, "input is empty") }
        if lo > 0 || hi < bytes.count { bytes = Array(bytes[lo..<hi]) }
        if let token = Self.plainAWSShape(bytes) {
            self.init(token: token, rotationTimestamp: nil, rotationTimestampText: nil)
            return
        }
        // A JSON array, number or literal is no token either (no token is also valid JSON): say
        // what it is, as `audit import` does for such a capture line. Only inputs that can start
        // one are tried ('e', which every real token starts with, is not among them).
        let first = bytes[0]
        let startsScalar = first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
            || first == UInt8(ascii: "t") || first == UInt8(ascii: "f") || first == UInt8(ascii: "n")
        let jsonScalarOrArray = first == UInt8(ascii: "[")
            || (startsScalar && bytes.count <= TokenLimits.maxResponseBytes
                && (try? StrictJSON.parse(bytes, limits: JSONLimits(maxBytes: TokenLimits.maxResponseBytes, maxDepth: 16))) != nil)
        if bytes[0] == UInt8(ascii: "{") || bytes[0] == UInt8(ascii: "\"") || jsonScalarOrArray {
            guard bytes.count <= TokenLimits.maxResponseBytes else {
                throw VerificationError(.tokenTooLarge, "response document of \(bytes.count) bytes exceeds the \(TokenLimits.maxResponseBytes)-byte limit")
            }
            let value: JSONValue
            do { value = try StrictJSON.parse(bytes, limits: JSONLimits(maxBytes: TokenLimits.maxResponseBytes, maxDepth: 16)) } catch {
                if case .duplicateMember(let name) = error.kind {
                    throw VerificationError(.duplicateMember, "response object has duplicate member \"\(name)\"")
                }
                throw VerificationError(.malformedInput, "input is not valid JSON: \(error.description)")
            }
            try self.init(json: value)
        } else {
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw VerificationError(.malformedInput, "input is neither JSON nor a token (not UTF-8)")
            }
            self.init(token: s, rotationTimestamp: nil, rotationTimestampText: nil)
        }
    }

    static let awsPrefix = Array(#"{"Signature":""#.utf8)
    static let awsSuffix = Array(#"","PublicKeyRotationTimestamp":null}"#.utf8)

    /// The exact bytes the AWS CLI and SDKs produce most often — `{"Signature":"<token>",
    /// "PublicKeyRotationTimestamp":null}` without whitespace, where the token holds only
    /// printable ASCII other than `"` and `\`. For exactly these bytes the strict reader would
    /// return the same string (no escapes, no duplicates, nothing else), so it is taken without
    /// building a JSON tree; anything else goes the full way. The token itself is judged next.
    package static func plainAWSShape(_ b: some Collection<UInt8>) -> String? {
        guard b.count <= TokenLimits.maxResponseBytes else { return nil }
        if let r = b.withContiguousStorageIfAvailable({ plainAWSShape(bytes: $0) }) { return r }
        return Array(b).withUnsafeBufferPointer { plainAWSShape(bytes: $0) }
    }

    private static func plainAWSShape(bytes b: UnsafeBufferPointer<UInt8>) -> String? {
        let p = awsPrefix.count, q = awsSuffix.count
        guard b.count > p + q, b.starts(with: awsPrefix), b[(b.count - q)...].elementsEqual(awsSuffix) else { return nil }
        let plain = { (raw: UnsafeRawBufferPointer) -> Bool in
            var i = p
            let end = b.count - q
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            @inline(__always) func hasZero(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
            while end - i >= 8 {
                let x = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                // Any byte >= 0x80, < 0x20, '"' or '\' leaves the fast path.
                if x & highs != 0 || (x &- ones &* 0x20) & ~x & highs != 0 || hasZero(x ^ (ones &* 0x22)) || hasZero(x ^ (ones &* 0x5C)) {
                    return false
                }
                i += 8
            }
            while i < end {
                let c = raw[i]
                if c < 0x20 || c >= 0x80 || c == 0x22 || c == 0x5C { return false }
                i += 1
            }
            return true
        }(UnsafeRawBufferPointer(b))
        guard plain else { return nil }
        return String(decoding: b[p..<(b.count - q)], as: UTF8.self)
    }

    /// Reads an already-parsed JSON value: a string (the token) or a response object.
    public init(json value: JSONValue) throws(VerificationError) {
        switch value {
        case .string(let s):
            self.init(token: s, rotationTimestamp: nil, rotationTimestampText: nil)
        case .object(let o):
            if let r = try Self.response(in: o) {
                self = r
                return
            }
            // One level of envelope: exactly one member holding a response object.
            var found: [RegisterUsageResponse] = []
            for m in o.members {
                if case .object(let inner) = m.value, let r = try Self.response(in: inner) { found.append(r) }
            }
            guard found.count == 1 else {
                throw VerificationError(.malformedInput, found.isEmpty
                    ? "JSON object has no \"Signature\" member (not a RegisterUsage response)"
                    : "JSON envelope holds more than one response object")
            }
            self = found[0]
        default:
            throw VerificationError(.malformedInput, "input is a JSON \(value.typeName), not a response object or token")
        }
    }

    private static func response(in o: JSONObject) throws(VerificationError) -> RegisterUsageResponse? {
        let upper = o["Signature"], lower = o["signature"]
        guard upper != nil || lower != nil else { return nil }
        guard upper == nil || lower == nil else {
            throw VerificationError(.malformedInput, "response carries both \"Signature\" and \"signature\"")
        }
        guard case .string(let token)? = upper ?? lower else {
            throw VerificationError(.malformedInput, "response \"Signature\" is not a string")
        }
        let rtUpper = o["PublicKeyRotationTimestamp"], rtLower = o["publicKeyRotationTimestamp"]
        guard rtUpper == nil || rtLower == nil else {
            throw VerificationError(.malformedInput, "response carries both spellings of PublicKeyRotationTimestamp")
        }
        // Outside the signature and only ever a warning: a value MeterProof cannot read as a time
        // must not turn a genuine entitlement into a refusal. It is kept as written.
        let (ts, text) = rotationTimestamp(rtUpper ?? rtLower)
        return RegisterUsageResponse(token: token, rotationTimestamp: ts, rotationTimestampText: text)
    }

    /// Interprets a `PublicKeyRotationTimestamp` value (in the response or the payload):
    /// absent/null, an epoch time as a JSON number (seconds below 10^12; milliseconds from 10^12
    /// to below 10^15, as Java's `Date` serialises), or an ISO-8601 string. The value only ever
    /// warns, so nothing here refuses: any other value (a string or number that is none of
    /// these, a JSON object such as a serialised Java `Instant`) comes back as its text alone,
    /// with `nil` seconds. .NET's `DateTime.MinValue` (`0001-01-01T00:00:00`, or
    /// `/Date(-62135596800000)/`), which a non-nullable .NET field holds when AWS sent none,
    /// counts as absent.
    static func rotationTimestamp(_ v: JSONValue?) -> (Int64?, String?) {
        switch v {
        case nil, .null?: return (nil, nil)
        case .number(let n)?:
            if let d = n.double, d.isFinite, d >= 0, d < 1e15 {
                return (d < 1e12 ? Int64(d) : Int64((d / 1000).rounded(.down)), n.text)
            }
            if let d = n.double, d == -62_135_596_800 || d == -62_135_596_800_000 { return (nil, nil) }
            return (nil, n.text)
        case .string(let s)?:
            if s.hasPrefix("0001-01-01T00:00:00") || s == "/Date(-62135596800000)/" { return (nil, nil) }
            if let t = RFC3339.parseSeconds(s) { return (t, s) }
            return (nil, s)
        case let other?:
            return (nil, JSONText.serialize(other))
        }
    }
}
