import MeterProof

/// One line of a captures file, understood.
///
/// Accepted shapes (one JSON value or plain token per line):
/// 1. `{"request": {"ProductCode", "PublicKeyVersion", "Nonce"}, "response": {…}, "capturedAt": RFC 3339}`
///    (request keys in either spelling) — fully bound;
/// 2. a bare response object (optionally with `capturedAt`), a token as a JSON string, or a token
///    as plain text — verified for signature and structure only (`binding: "unbound"`).
public struct Capture: Sendable {
    /// The response the line holds (token and rotation timestamp), not yet verified.
    public var response: RegisterUsageResponse
    /// The request, when the capture records it.
    public var request: RegisterUsageRequest?
    /// `capturedAt` in epoch **milliseconds**; `nil` when the capture has none. Freshness is
    /// judged against it.
    public var capturedAtMillis: Int64?
    /// `capturedAt` exactly as written; `nil` when the capture has none.
    public var capturedAtText: String?

    /// The longest capture line read, in bytes.
    public static let maxLineBytes = 1 << 20

    /// Parses one line (without its terminator). Throws `malformed_input` (or `duplicate_member`,
    /// `token_too_large`) for anything that is not one of the shapes.
    public init(line: ArraySlice<UInt8>) throws(VerificationError) {
        if let plain = Self.plainBound(line) {
            self = plain
            return
        }
        try self.init(fullyParsing: line)
    }

    /// The full route: the whole line through the strict JSON reader (tests compare it with
    /// ``plainBound(_:)``).
    init(fullyParsing line: ArraySlice<UInt8>) throws(VerificationError) {
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
        // Each capture member in camelCase or PascalCase (Go and .NET capture code writes
        // exported field names), spelled once.
        func member(_ camel: String, _ pascal: String) throws(VerificationError) -> JSONValue? {
            let c = obj[camel], p = obj[pascal]
            if c != nil && p != nil { throw VerificationError(.malformedInput, "capture carries both \"\(camel)\" and \"\(pascal)\"") }
            return c ?? p
        }
        // Another spelling of a capture member (`capturedat`, `captured_at`, `REQUEST`…) would be
        // ignored: an envelope read as unbound, or a bound capture judged without its capture time.
        for m in obj.members where !Self.readSpellings.contains(m.name) {
            guard let stem = Self.memberStem(m.name) else { continue }
            let bound = obj["request"] != nil || obj["Request"] != nil
            let effect = stem == "capturedat" ? "the capture judged without its capture time (no freshness check)"
                : bound ? "the capture judged on its other members" : "the capture judged unbound"
            throw VerificationError(.malformedInput, "capture member \"\(m.name)\" is not a spelling MeterProof reads (request or Request, response or Response, capturedAt or CapturedAt); it would be ignored, and \(effect)")
        }
        let capturedAt = try member("capturedAt", "CapturedAt")
        let requestValue = try member("request", "Request"), responseValue = try member("response", "Response")
        switch capturedAt {
        case nil, .null?: break
        case .string(let s)?:
            guard let ms = RFC3339.parseMilliseconds(s) else {
                throw VerificationError(.malformedInput, "capturedAt \"\(s)\" is not an RFC 3339 time")
            }
            capturedAtMillis = ms
            capturedAtText = s
        case let v?:
            throw VerificationError(.malformedInput, "capturedAt is \(v.typeNameWithArticle), not an RFC 3339 string")
        }
        if requestValue != nil || responseValue != nil {
            guard case .object(let req)? = requestValue else {
                throw VerificationError(.malformedInput, "capture has no \"request\" object")
            }
            guard let resp = responseValue else { throw VerificationError(.malformedInput, "capture has no \"response\"") }
            self.request = try Self.request(from: req)
            self.response = try RegisterUsageResponse(json: resp)
        } else {
            self.response = try RegisterUsageResponse(json: value)
        }
    }

    /// The capture member names read.
    static let readSpellings: Set<String> = ["request", "Request", "response", "Response", "capturedAt", "CapturedAt"]

    /// `request`, `response` or `capturedat` when `name` is one of them in any case, with any
    /// `_`, `-`, space or `.` between words (`captured_at`, `Captured-At`); else nil.
    static func memberStem(_ name: String) -> String? {
        guard name.utf8.count <= 16 else { return nil }
        let folded = String(name.lowercased().filter { !"_- .".contains($0) })
        return ["request", "response", "capturedat"].contains(folded) ? folded : nil
    }

    private init(response: RegisterUsageResponse, request: RegisterUsageRequest, capturedAtMillis: Int64, capturedAtText: String) {
        self.response = response
        self.request = request
        self.capturedAtMillis = capturedAtMillis
        self.capturedAtText = capturedAtText
    }

    static let boundHead = Array(#"{"request":{"#.utf8)
    static let responseKey = Array(#","response":"#.utf8)
    static let capturedAtKey = Array(#","capturedAt":""#.utf8)

    /// The bound shape as capture tools (and `meterproof-bench`) write it:
    /// `{"request":{…},"response":{"Signature":"<token>","PublicKeyRotationTimestamp":null},"capturedAt":"<time>"}`
    /// without whitespace between the members, a flat request object without escapes, the
    /// response in the AWS CLI's exact shape and a plain `capturedAt`. For such a line the full
    /// route finds exactly these three members with these values (nothing else, no duplicate,
    /// nothing escaped), so the request object alone goes through the strict reader and the
    /// long token is taken without building a JSON tree. Anything else, including any line
    /// the full route would refuse, returns `nil` and takes the full route.
    static func plainBound(_ line: ArraySlice<UInt8>) -> Capture? {
        line.withContiguousStorageIfAvailable { b -> Capture? in
            let n = b.count
            let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
            // A line over the limit is refused by the full parse: the fast path must not take it.
            guard n > boundHead.count + responseKey.count + capturedAtKey.count + 4, n <= maxLineBytes,
                  b.starts(with: boundHead), b[n - 1] == UInt8(ascii: "}"), b[n - 2] == quote else { return nil }
            // The request object: flat, its strings without escapes or control bytes.
            var i = boundHead.count
            var inString = false
            while i < n {
                let c = b[i]
                if inString {
                    if c == quote { inString = false } else if c == backslash || c < 0x20 { return nil }
                } else if c == quote {
                    inString = true
                } else if c == UInt8(ascii: "}") {
                    break
                } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    return nil
                }
                i += 1
            }
            guard i < n else { return nil }
            let requestEnd = i + 1
            guard b[requestEnd...].starts(with: responseKey) else { return nil }
            let responseStart = requestEnd + responseKey.count
            // `capturedAt` is the last member: its value holds no quote, so its opening quote is
            // the last one before the closing one.
            var t = n - 3
            while t > responseStart && b[t] != quote { t -= 1 }
            let valueStart = t + 1
            guard valueStart - responseStart > capturedAtKey.count,
                  b[(valueStart - capturedAtKey.count)..<valueStart].elementsEqual(capturedAtKey) else { return nil }
            let responseEnd = valueStart - capturedAtKey.count
            let timeBytes = b[valueStart..<(n - 2)]
            guard timeBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != backslash }),
                  let token = RegisterUsageResponse.plainAWSShape(b[responseStart..<responseEnd]) else { return nil }
            let capturedAt = String(decoding: timeBytes, as: UTF8.self)
            guard let millis = RFC3339.parseMilliseconds(capturedAt),
                  case .object(let object)? = try? StrictJSON.parse(b[(boundHead.count - 1)..<requestEnd], limits: JSONLimits(maxBytes: maxLineBytes, maxDepth: 16)),
                  let request = try? Self.request(from: object) else { return nil }
            return Capture(response: RegisterUsageResponse(token: token), request: request, capturedAtMillis: millis, capturedAtText: capturedAt)
        } ?? nil
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
            guard let v = KeyVersion.version(of: n) else {
                throw VerificationError(.malformedInput, "capture request PublicKeyVersion \(n.text) is not an integer from 1 to 2147483647")
            }
            version = v
        case .string(let s)?:
            // The same range as the number form: an out-of-range string is malformed too, not
            // an unknown key version.
            guard let v = KeyVersion.parse(s) else {
                throw VerificationError(.malformedInput, "capture request PublicKeyVersion \"\(s)\" is not an integer from 1 to 2147483647 in canonical decimal")
            }
            version = v
        default:
            throw VerificationError(.malformedInput, "capture request has no PublicKeyVersion integer")
        }
        var nonce: String? = nil
        switch try field("Nonce", "nonce") {
        case nil, .null?: break
        case .string(let s)?: nonce = s
        case let v?: throw VerificationError(.malformedInput, "capture request Nonce is \(v.typeNameWithArticle)")
        }
        return RegisterUsageRequest(productCode: pc, publicKeyVersion: version, nonce: nonce)
    }
}
