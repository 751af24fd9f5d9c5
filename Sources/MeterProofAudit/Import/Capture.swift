import MeterProof

/// One line of a captures file, understood.
///
/// Accepted shapes (one JSON value or plain token per line):
/// 1. `{"request": {"ProductCode", "PublicKeyVersion", "Nonce"}, "response": {…}, "capturedAt": RFC 3339}`
///    (request keys in either spelling) — fully bound;
/// 2. a bare response object (optionally with `capturedAt`), a token as a JSON string, or a token
///    as plain text — verified for signature and structure only (`binding: "unbound"`).
public struct Capture: Sendable {
    public var response: RegisterUsageResponse
    /// The request, when the capture records it.
    public var request: RegisterUsageRequest?
    /// `capturedAt` in epoch milliseconds, and as written.
    public var capturedAtMillis: Int64?
    public var capturedAtText: String?

    /// The longest capture line read, in bytes.
    public static let maxLineBytes = 1 << 20

    /// Parses one line (without its terminator). Throws `malformed_input` (or `duplicate_member`,
    /// `token_too_large`) for anything that is not one of the shapes.
    public init(line: ArraySlice<UInt8>) throws(VerificationError) {
        guard let first = line.first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else {
            throw VerificationError(.malformedInput, "blank capture line")
        }
        guard first == UInt8(ascii: "{") || first == UInt8(ascii: "\"") || first == UInt8(ascii: "[") else {
            // JSON Lines: a line that is a whole JSON number, `true`, `false` or `null` is JSON
            // (and none of the capture shapes), not a token.
            if let value = try? StrictJSON.parse(line, limits: JSONLimits(maxBytes: Self.maxLineBytes, maxDepth: 16)) {
                self.response = try RegisterUsageResponse(json: value)
                return
            }
            // A bare token as plain text.
            self.response = try RegisterUsageResponse(parsing: line)
            return
        }
        let value: JSONValue
        do { value = try StrictJSON.parse(line, limits: JSONLimits(maxBytes: Self.maxLineBytes, maxDepth: 16)) } catch {
            if case .duplicateMember(let name) = error.kind {
                throw VerificationError(.duplicateMember, "capture has duplicate member \"\(name)\"")
            }
            throw VerificationError(.malformedInput, "capture line is not valid JSON: \(error.description)")
        }
        guard case .object(let obj) = value else {
            self.response = try RegisterUsageResponse(json: value)
            return
        }
        switch obj["capturedAt"] {
        case nil, .null?: break
        case .string(let s)?:
            guard let ms = RFC3339.parseMilliseconds(s) else {
                throw VerificationError(.malformedInput, "capturedAt \"\(s)\" is not an RFC 3339 time")
            }
            capturedAtMillis = ms
            capturedAtText = s
        case let v?:
            throw VerificationError(.malformedInput, "capturedAt is a \(v.typeName), not an RFC 3339 string")
        }
        if obj["request"] != nil || obj["response"] != nil {
            guard case .object(let req)? = obj["request"] else {
                throw VerificationError(.malformedInput, "capture has no \"request\" object")
            }
            guard let resp = obj["response"] else { throw VerificationError(.malformedInput, "capture has no \"response\"") }
            self.request = try Self.request(from: req)
            self.response = try RegisterUsageResponse(json: resp)
        } else {
            self.response = try RegisterUsageResponse(json: value)
        }
    }

    static func request(from o: JSONObject) throws(VerificationError) -> RegisterUsageRequest {
        func field(_ a: String, _ b: String) throws(VerificationError) -> JSONValue? {
            if o[a] != nil && o[b] != nil { throw VerificationError(.malformedInput, "capture request carries both \(a) and \(b)") }
            return o[a] ?? o[b]
        }
        guard case .string(let pc)? = try field("ProductCode", "productCode") else {
            throw VerificationError(.malformedInput, "capture request has no ProductCode string")
        }
        let version: Int
        switch try field("PublicKeyVersion", "publicKeyVersion") {
        case .number(let n)?:
            guard let v = n.int64, v >= 1, v <= Int64(Int32.max) else {
                throw VerificationError(.malformedInput, "capture request PublicKeyVersion \(n.text) is not a positive integer")
            }
            version = Int(v)
        case .string(let s)?:
            guard let v = Int(s), v >= 1, String(v) == s else {
                throw VerificationError(.malformedInput, "capture request PublicKeyVersion \"\(s)\" is not a positive integer")
            }
            version = v
        default:
            throw VerificationError(.malformedInput, "capture request has no PublicKeyVersion integer")
        }
        var nonce: String? = nil
        switch try field("Nonce", "nonce") {
        case nil, .null?: break
        case .string(let s)?: nonce = s
        case let v?: throw VerificationError(.malformedInput, "capture request Nonce is a \(v.typeName)")
        }
        return RegisterUsageRequest(productCode: pc, publicKeyVersion: version, nonce: nonce)
    }
}
