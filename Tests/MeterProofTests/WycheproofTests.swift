import Foundation
import Testing
@testable import MeterProof

/// Wycheproof RSASSA-PSS vectors, run through `RSAPublicKey(pem:)` + `isValidPS256Signature`,
/// the same calls the verifier makes.
@Suite("Wycheproof RSASSA-PSS")
struct WycheproofTests {
    struct VectorFile: Decodable {
        let numberOfTests: Int
        let testGroups: [Group]
    }

    struct Group: Decodable {
        let keySize: Int
        let sha: String
        let mgf: String
        let mgfSha: String
        let sLen: Int
        let publicKeyPem: String
        let tests: [Vector]

        /// The parameters PS256 means (RFC 7518 section 3.5).
        var isPS256: Bool { sha == "SHA-256" && mgf == "MGF1" && mgfSha == "SHA-256" && sLen == 32 }
        var parameters: String { "\(sha)/\(mgf)-\(mgfSha)/salt \(sLen)" }
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let msg: String
        let sig: String
        let result: String
    }

    static func load(_ name: String) throws -> VectorFile {
        let data = try Data(contentsOf: SharedFiles.wycheproof.appendingPathComponent(name))
        return try JSONDecoder().decode(VectorFile.self, from: data)
    }

    static func check(_ key: RSAPublicKey, _ v: Vector) throws -> Bool {
        let msg = try #require(Hex.decode(v.msg), "tcId \(v.tcId): msg is not hex")
        let sig = try #require(Hex.decode(v.sig), "tcId \(v.tcId): sig is not hex")
        return key.isValidPS256Signature(sig, for: msg)
    }

    @Test("PS256 files: every valid accepted, every invalid refused",
          .enabled(if: SharedFiles.available, "../shared is absent: no Wycheproof vectors to run"),
          arguments: [("rsa_pss_2048_sha256_mgf1_32_test.json", 2048),
                      ("rsa_pss_3072_sha256_mgf1_32_test.json", 3072),
                      ("rsa_pss_4096_sha256_mgf1_32_test.json", 4096)])
    func ps256File(name: String, bits: Int) throws {
        let file = try Self.load(name)
        var valid = 0, invalid = 0, acceptable = 0
        for group in file.testGroups {
            #expect(group.isPS256, "\(name): group with \(group.parameters) in a PS256-only file")
            let key = try RSAPublicKey(pem: group.publicKeyPem)
            #expect(key.bits == bits)
            #expect(key.bits == group.keySize)
            for v in group.tests {
                let ok = try Self.check(key, v)
                switch v.result {
                case "valid":
                    valid += 1
                    #expect(ok, "\(name) tcId \(v.tcId) (\(v.comment)): valid signature refused")
                case "invalid":
                    invalid += 1
                    #expect(!ok, "\(name) tcId \(v.tcId) (\(v.comment)): invalid signature accepted")
                case "acceptable":
                    acceptable += 1
                default:
                    Issue.record("\(name) tcId \(v.tcId): unknown result \(v.result)")
                }
            }
        }
        print("\(name): \(valid) valid accepted, \(invalid) invalid refused, \(acceptable) acceptable (not judged)")
        #expect(valid > 0)
        #expect(invalid > 0)
        #expect(valid + invalid + acceptable == file.numberOfTests)
    }

    @Test("misc file: every non-PS256 group refused whatever its result; PS256 groups as their results say",
          .enabled(if: SharedFiles.available, "../shared is absent: no Wycheproof vectors to run"))
    func miscFile() throws {
        let file = try Self.load("rsa_pss_misc_test.json")
        var refusedOther = 0, otherMarkedValid = 0, ps256Valid = 0, ps256Invalid = 0, ps256Acceptable = 0
        for group in file.testGroups {
            // The parser takes any size; the 2048-bit floor is the verifier's job, not RSAPublicKey's.
            let key = try RSAPublicKey(pem: group.publicKeyPem)
            #expect(key.bits == group.keySize)
            for v in group.tests {
                let ok = try Self.check(key, v)
                if !group.isPS256 {
                    refusedOther += 1
                    if v.result == "valid" { otherMarkedValid += 1 }
                    #expect(!ok, "misc tcId \(v.tcId): \(group.parameters) signature accepted as PS256")
                } else {
                    switch v.result {
                    case "valid": ps256Valid += 1; #expect(ok, "misc tcId \(v.tcId): valid PS256 refused")
                    case "invalid": ps256Invalid += 1; #expect(!ok, "misc tcId \(v.tcId): invalid PS256 accepted")
                    default: ps256Acceptable += 1
                    }
                }
            }
        }
        print("rsa_pss_misc_test.json: \(refusedOther) non-PS256 refused (\(otherMarkedValid) of them valid for their own parameters), PS256 groups: \(ps256Valid) valid, \(ps256Invalid) invalid, \(ps256Acceptable) acceptable")
        #expect(refusedOther > 0)
        #expect(otherMarkedValid > 0)
        #expect(ps256Valid + ps256Invalid > 0)
        #expect(refusedOther + ps256Valid + ps256Invalid + ps256Acceptable == file.numberOfTests)
    }
}
