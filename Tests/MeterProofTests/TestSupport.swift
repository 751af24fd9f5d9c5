import MeterProofTestSupport
import Foundation
import Testing
@testable import MeterProof

/// Paths relative to the package root (three levels up from this file).
enum PackagePaths {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/MeterProofTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root

    static let testKeys = root.appendingPathComponent("keys/test")
    static let interop = root.appendingPathComponent("Tests/interop")
}

/// `../shared` next to the package root: external test vectors, read where they are.
enum SharedFiles {
    static let root: URL = PackagePaths.root.appendingPathComponent("../shared").standardizedFileURL
    static let wycheproof: URL = root.appendingPathComponent("vectors/wycheproof")

    /// Whether the shared vectors are present; tests that need them are skipped (with a reason) otherwise.
    static let available: Bool = {
        var isDir: ObjCBool = false
        let ok = FileManager.default.fileExists(atPath: wycheproof.path, isDirectory: &isDir) && isDir.boolValue
        if !ok { print("note: \(wycheproof.path) is absent; Wycheproof tests will be skipped") }
        return ok
    }()
}

/// Fixed values shared by the verification tests.
enum Fixture {
    /// The reference time of every verification in the tables: 2025-06-15T15:06:40Z.
    static let now: Int64 = 1_750_000_000
    static let product = "prod-abc"
    static let nonce = "3f1c2a9e-8b7d-4c6e-9a51-2d0e7f4b8c13"
    static let request = RegisterUsageRequest(productCode: product, publicKeyVersion: 1, nonce: nonce)
    static let header = #"{"alg":"PS256","typ":"JWT"}"#
    /// A well-formed camelCase payload for `request`, issued 5 s before `now`.
    static let payload = #"{"productCode":"prod-abc","publicKeyVersion":1,"nonce":"\#(nonce)","iat":\#(now - 5)}"#

    /// Pinned fingerprints from `keys/test/keyring.json`.
    static let v1Fingerprint = "a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"
    static let v2Fingerprint = "0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85"
    /// `notBefore` of both test keys, 2024-01-01T00:00:00Z.
    static let testKeysNotBefore: Int64 = 1_704_067_200
}

/// The repository's test keys plus two keys embedded here (a 1024-bit key for `weak_key` and an
/// unrelated 2048-bit key for "right size, wrong key"). Never used outside tests.
enum TestKeys {
    static let v1 = privateKey(file: "private/v1.key.pem")
    static let v2 = privateKey(file: "private/v2.key.pem")
    static let weak1024 = privateKey(pem: weak1024PEM, name: "embedded 1024-bit key")
    static let other2048 = privateKey(pem: other2048PEM, name: "embedded 2048-bit key")

    /// `keys/test` loaded as the CLI loads it (pinned).
    static let keyring: Keyring = {
        do { return try Keyring.load(from: PackagePaths.testKeys.path, allowingTestKeys: true) } catch {
            fatalError("cannot load the test keyring: \(error)")
        }
    }()

    static func pem(_ file: String) -> String {
        let url = PackagePaths.testKeys.appendingPathComponent(file)
        guard let d = FileManager.default.contents(atPath: url.path) else { fatalError("cannot read \(url.path)") }
        return String(decoding: d, as: UTF8.self)
    }

    static func privateKey(file: String) -> RSAPrivateKey { privateKey(pem: pem(file), name: file) }

    static func privateKey(pem: String, name: String) -> RSAPrivateKey {
        do { return try RSAPrivateKey(pem: pem) } catch { fatalError("\(name): \(error)") }
    }

    static func publicKey(_ key: RSAPrivateKey) -> RSAPublicKey {
        do { return try key.publicKey } catch { fatalError("public half: \(error)") }
    }

    /// A keyring built in memory with one entry.
    static func memoryKeyring(version: Int = 1, key: RSAPublicKey, notBefore: Int64? = nil, notAfter: Int64? = nil) -> Keyring {
        let e = KeyringEntry(version: version, key: key, source: "<memory v\(version)>", notBefore: notBefore, notAfter: notAfter, pinned: false)
        do { return try Keyring(entries: [e]) } catch { fatalError("\(error)") }
    }

    static let weak1024PEM = """
    -----BEGIN PRIVATE KEY-----
    MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBANi7RrHQkEqmeO+M
    DzHKvVLJZRtRxCyzrRGUwDIJhi5Qweu8IEt1YFB88sSK7dic6p8Nrl5qVcO9fiiG
    15eurezgKQ8cKSWDwBl+BDy8VOOpnaf1eC1PIJB9h4A4pp26hfVAe+UoKm6PlbhZ
    0RBhKk0iCyg0DrPHpBpY6P92mChfAgMBAAECgYEAwzdUwx+AiK0QK3z1xry98U7U
    UlpBIJ6q2jYpNCjeAuPc+FAYqr9MBNO2/A/DkyQsNR3mnMac/9W0SB7FHKxLnXN+
    ++Epjy6CEyVwdXhYsOSy9rd/xdqQpH6E+NTpyOiE0E4fkYxefFcH1JBYszS3l3fX
    FkKqT2GNEAKUP+qjPSECQQD5HQSieZ32llpsqLC7nICKPsABp+shQi4xlyTpi0LX
    adNFOcDF09pvHa2lxx/FDQ1YWczHt88TNZuri/FSqJORAkEA3rkXVUFkn5EiiEAE
    k7mk0DEZmNPLtSZoXyTmDtscowO9Uo+lEUNrmjidbAFJJ6PSFa/STVEGjsdHGphk
    aBYk7wJBAL2pAiZRQZrDzgR8SlIMTTDzpWudVL71jAXldQz6IeGviFJkLghvyxZe
    Gh7lA6Ma1NY3SFml79pILkTlPs4X2oECQH5DDdA+Ny4imCIHsNCSYLXJ8Ansn8I9
    WNP/VhC79LsRZqXEWz6zKvAOAmh1PiSjwXib6Sv9sCsHG+8ez2UWkK8CQQDD2xDh
    5pA/W3dHCRxMATcEyHecTIyLz9LrZud3Nay3xKA19s8Z8nPmgbXbo39CUAQD1jQh
    3g7xQQBV2Ag7hd+O
    -----END PRIVATE KEY-----
    """

    static let other2048PEM = """
    -----BEGIN PRIVATE KEY-----
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC1ZuMZezVn9usE
    ff1rhbwHkvhGvmDglB8ZVDcvHOjfkiO9s38V1b79ZoRbXHrs7E616PxVxbFggx4N
    o5pYbQevH/dVbs9NIfaBkq1u0bmFebne9w3X/bI3RQK4QBf2FAXq8VFJ8UZJ2NVA
    Yul5tysNFjXGBuy+GozDlQVBYXcGnBO9u2bBC0E2JZw58PP8nOZLVjPPWt6KMHsp
    N8AGG+XfYvJGC1nl3hxGU+4tDarFRD8HxziJCLS+hh9vLqtiC+KQdqwbf0vTV82S
    25sfEi/CwvkQ+L7U7Ng5nH6j5JOlpTGBNdCymU7I8c9BfvvsrSNVncmOOGovHKhO
    7e8sTShPAgMBAAECggEAGc16vCMkY5dhso/hPiwVpNYo7pch3I/1JHswJklsbnCx
    GMixaP+wXQb6CKzM52ptf76WNfUa1+mOms4MpEtN7oETg1lxrz0HfULJ3JuEUhIQ
    eECX/YMemHH+gwrK3bvXY6XTtDrXjqWDH9dx8lg1jXT9TR+rCRdpsmA+ESC194B6
    kmd1xXGRx86j8ErN0/KfXqPhX0j9bR2EznB6wG1HIE/G08znkr8U/SwXmtsIs+uL
    sB3N2673f43OfYlwRFdyEfGe6/yJbLCfzwYL/v5mIfCpRdfB7pZUKALdTMEKhhtw
    /m/a3dII64C5a/qac6X7EuAkfIlorpwWJ8FCuuPEIQKBgQDdZ8GDkAgirqtn/7Z7
    WJLr42wGT89rZnrFEV7teHE5QdBu6fp5HzIqe+4JnT2sVQNawnRZvsJNLEVVZc/L
    rV3wkDm70ehny7sBkORtPTTDM7eRxPZBqUXeX6YLzKR64u+yE9cxuQK2n2+Fvaws
    RTe0jSTd0YcChm/IGKqZ2tW/+QKBgQDRvv1XxRreHuQMmgzThOKBtB1dzJfJwGGu
    E07SMu6EejtDRm7swlCO+cSBV+HpRECuyMU47ylDMoo4ncbZnYJvMGosDi07w6uc
    1nhG9DLayBavO7lWKkWhaiomnfSYpYudlXDR5fSomNltCAZDURtIbDjJjkkEIuom
    WqN92Q9MhwKBgAoZClViw0w5pS2oFv2HK6RAihO7nh0q3lyQj0DLZnaTDtuQJlFR
    3+raHiAoIMD0W6PPDJlvPtNgOoVLkG+cp5UqLsfnKe9Z9lx67EAjM33XpP6r+gNC
    oiIjQKJ3IeVM5lu71eu5oWsM2HxEC081lPXSHiVTwhGWahC5N0avGWKZAoGBAJx5
    m47rIQwsh31PP9pc/I4+zNm5VFPTDgxLozX1gTOb7LJXzVEb9fV0KEFGSuc3X/oF
    Ff1Pjrzu62cpbbvTYgeJWuva96vqYhDzf2+PppDJTQMVz0KU7rVo+mEs3dkzR2Ec
    p7ovj8JnpW1N2z5FN9Fjy0myuI45be2HGQk98cfpAoGBAKeuKWoBrjBBVYzNYN7M
    rFWscdcar4E2NeBVkUQdDKzcdSV7h00S1crK2jVs29fBlDEVDPlZ2/WYVqVtjc0O
    fdMl+PUWDPhaXkpMvscIYreNGvCG0KlFoxSK5RIccd7Wk50r4P7/k9suVi+uZcSZ
    2vYr8Ro7VRu+t6x/XhCHrahu
    -----END PRIVATE KEY-----
    """
}

/// Builds compact tokens, honest or hostile.
enum JWS {
    typealias Scheme = EVPKeyBacking.SignatureScheme

    /// Signs `signingInput` (already-encoded `header.payload`) and returns the raw signature.
    static func signature(over signingInput: String, key: RSAPrivateKey = TestKeys.v1, scheme: Scheme = .pss(saltLength: 32)) throws -> [UInt8] {
        try key.sign(Array(signingInput.utf8), scheme: scheme)
    }

    /// Encodes `header` and `payload` canonically and signs them.
    static func token(header: [UInt8], payload: [UInt8], key: RSAPrivateKey = TestKeys.v1, scheme: Scheme = .pss(saltLength: 32)) throws -> String {
        try signSegments(Base64.urlEncode(header), Base64.urlEncode(payload), key: key, scheme: scheme)
    }

    static func token(header: String = Fixture.header, payload: String = Fixture.payload, key: RSAPrivateKey = TestKeys.v1, scheme: Scheme = .pss(saltLength: 32)) throws -> String {
        try token(header: Array(header.utf8), payload: Array(payload.utf8), key: key, scheme: scheme)
    }

    /// Signs already-encoded segments (which may be deliberately non-canonical).
    static func signSegments(_ h: String, _ p: String, key: RSAPrivateKey = TestKeys.v1, scheme: Scheme = .pss(saltLength: 32)) throws -> String {
        let input = h + "." + p
        return input + "." + Base64.urlEncode(try signature(over: input, key: key, scheme: scheme))
    }

    /// `header.payload` of a token plus a replaced signature segment.
    static func withSignature(_ token: String, _ signatureSegment: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return parts[0] + "." + parts[1] + "." + signatureSegment
    }

    static func segments(_ token: String) -> [String] {
        token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    /// A response object around `token`; `rotation` is the raw JSON of PublicKeyRotationTimestamp.
    static func response(_ token: String, rotation: String = "null") -> String {
        #"{"Signature":"\#(token)","PublicKeyRotationTimestamp":\#(rotation)}"#
    }

    /// HMAC-SHA-256 (RFC 2104) over MeterProof's SHA-256, for the HS256 confusion token.
    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? MeterProof.SHA256.hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = MeterProof.SHA256.hash(k.map { $0 ^ 0x36 } + message)
        return MeterProof.SHA256.hash(k.map { $0 ^ 0x5C } + inner)
    }
}

/// Runs an external program with its output captured in files (no pipe deadlocks).
struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Run {
    static func program(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil) throws -> ProcessOutput {
        let r = try TestProcess.run(executable, arguments, stdin: stdin)
        return ProcessOutput(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// The full path of `name` on `PATH`, if there is an executable file by that name.
    static func which(_ name: String) -> String? { TestProcess.which(name) }
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory(_ tag: String = "test") throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterproof-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func write(_ text: String, to url: URL) throws {
    try Data(text.utf8).write(to: url)
}
