import Foundation
import Testing
@testable import MeterProof

@Suite("Nonces and replay")
struct NonceAndReplayTests {
    @Test("Nonce.generate() is UUID-shaped lowercase hex, and 1000 in a row are distinct")
    func nonceShape() throws {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let n = try Nonce.generate()
            #expect(n.wholeMatch(of: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/) != nil, "\(n)")
            seen.insert(n)
        }
        #expect(seen.count == 1000)
    }

    @Test("all 128 bits are random: no fixed version nibble")
    func nonceBits() throws {
        // A UUIDv4 would always have '4' at index 14; over 200 nonces we expect other digits there.
        var versionNibbles = Set<Character>()
        for _ in 0..<200 { versionNibbles.insert(Array(try Nonce.generate())[14]) }
        #expect(versionNibbles.count > 1)
    }

    @Test("InMemoryReplayGuard: first consume true, second false, scoped by product")
    func replayGuardSequential() {
        let g = InMemoryReplayGuard()
        #expect(g.consume(nonce: "n1", productCode: "p"))
        #expect(!g.consume(nonce: "n1", productCode: "p"))
        #expect(g.consume(nonce: "n1", productCode: "q"))
        #expect(g.consume(nonce: "n2", productCode: "p"))
        #expect(!g.consume(nonce: "n2", productCode: "p"))
    }

    @Test("InMemoryReplayGuard compares bytes: canonically equivalent spellings are different nonces, and no pair runs into another")
    func replayGuardIsExact() {
        let g = InMemoryReplayGuard()
        #expect(g.consume(nonce: "caf\u{E9}", productCode: "p"))
        #expect(g.consume(nonce: "cafe\u{301}", productCode: "p"))
        #expect(!g.consume(nonce: "cafe\u{301}", productCode: "p"))
        #expect(g.consume(nonce: "K", productCode: "p"))
        #expect(g.consume(nonce: "\u{212A}", productCode: "p"))
        // Without a length prefix these two pairs would make the same key.
        #expect(g.consume(nonce: "c", productCode: "a\u{0}b"))
        #expect(g.consume(nonce: "b\u{0}c", productCode: "a"))
    }

    @Test("concurrent consumers of one nonce: exactly one wins")
    func replayGuardConcurrent() async {
        let g = InMemoryReplayGuard()
        for round in 0..<20 {
            let nonce = "nonce-\(round)"
            let wins = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<32 { group.addTask { g.consume(nonce: nonce, productCode: "prod-abc") } }
                var n = 0
                for await w in group where w { n += 1 }
                return n
            }
            #expect(wins == 1, "round \(round): \(wins) winners")
        }
    }

    @Test("requireIssuedAt refuses a token without iat, and changes nothing for one with it")
    func requireIssuedAt() throws {
        var policy = VerificationPolicy.strict
        policy.requireIssuedAt = true
        let strict = Verifier(keyring: TestKeys.keyring, policy: policy)
        let noIat = Array(try JWS.token(payload: claims(iat: nil)).utf8)
        let r = strict.verify(noIat, expecting: Fixture.request, now: Fixture.now)
        #expect(r.error?.code == .missingClaim && r.error?.reason == "token carries no iat, and the policy requires one (requireIssuedAt)")
        #expect(strict.verify(Array(try JWS.token().utf8), expecting: Fixture.request, now: Fixture.now).isAccepted)
        // The default accepts the same token.
        #expect(Verifier(keyring: TestKeys.keyring).verify(noIat, expecting: Fixture.request, now: Fixture.now).isAccepted)
    }

    @Test("Verifier with a replay guard: the second acceptance of one nonce is nonce_replayed")
    func verifierReplay() throws {
        let v = Verifier(keyring: TestKeys.keyring)
        let g = InMemoryReplayGuard()
        let t = Array(try JWS.token().utf8)
        let first = try v.verify(t, expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(first.isAccepted)
        let second = try v.verify(t, expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(second.error?.code == .nonceReplayed)
        #expect(second.claimsVerified)
        #expect(second.warnings.isEmpty)
        // A fresh token with the same nonce is still a replay.
        let again = try v.verify(Array(try JWS.token().utf8), expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(again.error?.code == .nonceReplayed)
    }

    @Test("a rejected token does not consume its nonce")
    func rejectionDoesNotConsume() throws {
        let v = Verifier(keyring: TestKeys.keyring)
        let g = InMemoryReplayGuard()
        let bad = try v.verify(Array(try JWS.token(key: TestKeys.v2).utf8), expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(bad.error?.code == .badSignature)
        let stale = try v.verify(Array(try JWS.token(payload: claims(iat: String(Fixture.now - 601))).utf8), expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(stale.error?.code == .tokenStale)
        let good = try v.verify(Array(try JWS.token().utf8), expecting: Fixture.request, now: Fixture.now, replayGuard: g)
        #expect(good.isAccepted)
    }

    @Test("a token without a nonce (allowed) bypasses the guard rather than failing")
    func noNonceWithGuard() throws {
        var p = VerificationPolicy.strict
        p.allowMissingNonce = true
        let v = Verifier(keyring: TestKeys.keyring, policy: p)
        let g = InMemoryReplayGuard()
        let t = Array(try JWS.token(payload: claims(nonce: nil)).utf8)
        let req = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 1, nonce: nil)
        #expect(try v.verify(t, expecting: req, now: Fixture.now, replayGuard: g).isAccepted)
        #expect(try v.verify(t, expecting: req, now: Fixture.now, replayGuard: g).isAccepted)
    }

    @Test("concurrent verifications of one token through one guard: exactly one accepted")
    func verifierReplayConcurrent() async throws {
        let v = Verifier(keyring: TestKeys.keyring)
        let g = InMemoryReplayGuard()
        let t = Array(try JWS.token().utf8)
        let codes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<16 {
                group.addTask { try v.verify(t, expecting: Fixture.request, now: Fixture.now, replayGuard: g).reasonCode ?? "accepted" }
            }
            var out: [String] = []
            for try await c in group { out.append(c) }
            return out
        }
        #expect(codes.filter { $0 == "accepted" }.count == 1)
        #expect(codes.filter { $0 == "nonce_replayed" }.count == 15)
    }
}

@Suite("Concurrency")
struct ConcurrencyTests {
    struct Outcome: Hashable, Sendable {
        var code: String?
        var fingerprint: String?
        var productCode: String?
        var warnings: [String]
    }

    static func outcome(_ r: VerificationResult) -> Outcome {
        Outcome(code: r.reasonCode, fingerprint: r.keyFingerprint, productCode: r.claims?.productCode, warnings: r.warnings.map(\.code))
    }

    /// 200 inputs, a mix of accepted and rejected ones under both keys.
    static func inputs() throws -> [(RegisterUsageRequest, [UInt8])] {
        var out: [(RegisterUsageRequest, [UInt8])] = []
        for i in 0..<200 {
            let nonce = "nonce-\(i)"
            let version = i % 5 == 0 ? 2 : 1
            let key = version == 2 ? TestKeys.v2 : TestKeys.v1
            let request = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: version, nonce: nonce)
            let payload = claims(keyVersion: String(version), nonce: #""\#(nonce)""#)
            var token: String
            switch i % 4 {
            case 0: token = try JWS.token(payload: payload, key: key)
            case 1: token = JWS.response(try JWS.token(payload: payload, key: key), rotation: "1767225600")
            case 2: token = try JWS.token(payload: claims(keyVersion: String(version), nonce: #""other""#), key: key)
            default: token = try JWS.token(payload: payload, key: version == 2 ? TestKeys.v1 : TestKeys.v2)
            }
            out.append((request, Array(token.utf8)))
        }
        return out
    }

    @Test("one Verifier from 8 concurrent tasks on 200 tokens gives the sequential results")
    func sharedVerifier() async throws {
        let verifier = Verifier(keyring: TestKeys.keyring)
        let inputs = try Self.inputs()
        let expected = inputs.map { Self.outcome(verifier.verify($0.1, expecting: $0.0, now: Fixture.now)) }
        #expect(Set(expected.map(\.code)) == [nil, "nonce_mismatch", "bad_signature"])
        let results = await withTaskGroup(of: (Int, [Outcome]).self) { group in
            for task in 0..<8 {
                group.addTask {
                    // Each task walks the list from a different starting point.
                    var out = [Outcome?](repeating: nil, count: inputs.count)
                    for k in 0..<inputs.count {
                        let i = (k + task * 25) % inputs.count
                        out[i] = Self.outcome(verifier.verify(inputs[i].1, expecting: inputs[i].0, now: Fixture.now))
                    }
                    return (task, out.map { $0! })
                }
            }
            var all: [(Int, [Outcome])] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 8)
        for (task, outcomes) in results {
            #expect(outcomes == expected, "task \(task) disagrees with the sequential run")
        }
    }
}
