import MeterProof
import Testing
@testable import MeterProofAudit

/// The c2sp.org/signed-note known answer quoted in transparency-formats.md.
enum C2SPExample {
    static let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    static let text = "This is an example message.\n"
    static let signatureLine = "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    static let note = text + "\n" + signatureLine
}

/// The example key and note from the documentation of golang.org/x/mod/sumdb/note.
enum GoExample {
    static let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let note = text + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
}

@Suite struct Ed25519Tests {
    @Test func signAndVerifyRoundTrip() throws {
        let k = try Ed25519PrivateKey()
        #expect(k.seed.count == 32)
        let msg = Array("hello".utf8)
        let sig = try k.signature(for: msg)
        #expect(sig.count == 64)
        #expect(k.publicKey.isValidSignature(sig, for: msg))
        #expect(k.publicKey.isValidSignature(sig, for: "hello"))
        #expect(!k.publicKey.isValidSignature(sig, for: "hellp"))
        var bad = sig
        bad[10] ^= 1
        #expect(!k.publicKey.isValidSignature(bad, for: msg))
        #expect(!k.publicKey.isValidSignature(Array(sig.dropLast()), for: msg))
        #expect(!k.publicKey.isValidSignature([], for: msg))
        // Same seed, same key; Ed25519 is deterministic.
        let k2 = try Ed25519PrivateKey(seed: k.seed)
        #expect(k2.publicKey == k.publicKey)
        #expect(try k2.signature(for: msg) == sig)
        let empty = try k.signature(for: [UInt8]())
        #expect(k.publicKey.isValidSignature(empty, for: [UInt8]()))
    }

    @Test func rfc8032TestVector1() throws {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let k = try Ed25519PrivateKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
        #expect(Hex.encode(k.publicKey.rawRepresentation) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(Hex.encode(try k.signature(for: [UInt8]())) ==
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    }

    @Test func malformedKeysAreRefused() {
        #expect(errorCode { _ = try Ed25519PrivateKey(seed: [1, 2, 3]) } == "malformed_key")
        #expect(errorCode { _ = try Ed25519PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 31)) } == "malformed_key")
    }
}

@Suite struct SignedNoteTests {
    @Test func c2spKnownAnswerVerifies() throws {
        let v = try NoteVerifier(vkey: C2SPExample.vkey)
        #expect(v.name == "example.com/foo")
        #expect(v.keyID == 0x530d_903a)
        #expect(v.vkey == C2SPExample.vkey)
        let note = try SignedNote(parsing: C2SPExample.note)
        #expect(note.text == C2SPExample.text)
        #expect(note.signatures.count == 1)
        #expect(note.signatures[0].keyID == 0x530d_903a)
        #expect(note.serialized == C2SPExample.note)
        #expect(try note.verify([v]) == [v])
    }

    @Test func oneByteChangeToTextFails() throws {
        let v = try NoteVerifier(vkey: C2SPExample.vkey)
        let tampered = C2SPExample.note.replacingFirst("example", with: "exbmple")
        let note = try SignedNote(parsing: tampered)
        #expect(errorCode { try note.verify([v]) } == "bad_signature")
    }

    @Test func goKnownAnswerSignsIdentically() throws {
        let signer = try NoteSigner(skey: GoExample.skey)
        #expect(signer.name == "PeterNeumann")
        #expect(signer.keyID == 0xc74f_20a3)
        #expect(signer.skey == GoExample.skey)
        #expect(signer.verifier.vkey == GoExample.vkey)
        let note = try SignedNote.sign(text: GoExample.text, with: [signer])
        #expect(note.serialized == GoExample.note)
        #expect(try SignedNote(parsing: GoExample.note).verify([try NoteVerifier(vkey: GoExample.vkey)]).map(\.name) == ["PeterNeumann"])
    }

    @Test func signVerifyRoundTripWithSeveralSigners() throws {
        let a = try NoteSigner.generate(name: "log.example/a")
        let b = try NoteSigner.generate(name: "witness.example/b")
        let note = try SignedNote.sign(text: "hello\nworld\n", with: [a, b])
        let parsed = try SignedNote(parsing: note.serialized)
        #expect(parsed == note)
        #expect(try parsed.verify([b.verifier, a.verifier]) == [a.verifier, b.verifier])
        #expect(try parsed.verify([b.verifier]) == [b.verifier])
    }

    @Test func unknownSignersAreIgnored() throws {
        let log = try NoteSigner.generate(name: "log.example")
        let stranger = try NoteSigner.generate(name: "stranger.example")
        // A key sharing the log's name but with another key ID is also unknown.
        let impostor = try NoteSigner.generate(name: "log.example")
        let note = try SignedNote.sign(text: "x\n", with: [stranger, impostor, log])
        #expect(try note.verify([log.verifier]) == [log.verifier])
        let onlyUnknown = try SignedNote.sign(text: "x\n", with: [stranger, impostor])
        #expect(errorCode { try onlyUnknown.verify([log.verifier]) } == "no_known_signature")
        #expect(errorCode { try note.verify([]) } == "no_known_signature")
    }

    @Test func badSignatureFromKnownKeyFailsWholeNote() throws {
        let log = try NoteSigner.generate(name: "log.example")
        let witness = try NoteSigner.generate(name: "witness.example")
        let note = try SignedNote.sign(text: "x\n", with: [log, witness])
        var sig = note.signatures[1].signature
        sig[0] ^= 0x80
        let forged = SignedNote(text: note.text, signatures: [note.signatures[0],
            NoteSignature(name: witness.name, keyID: witness.keyID, signature: sig)])
        let reparsed = try SignedNote(parsing: forged.serialized)
        #expect(try reparsed.verify([log.verifier]) == [log.verifier])
        #expect(errorCode { try reparsed.verify([log.verifier, witness.verifier]) } == "bad_signature")
        // A 5-byte payload (key ID plus one byte) parses but cannot verify.
        let short = "x\n\n\u{2014} \(log.name) \(Base64.encode(idBytes(log.keyID) + [0]))\n"
        #expect(errorCode { try SignedNote(parsing: short).verify([log.verifier]) } == "bad_signature")
    }

    func idBytes(_ id: UInt32) -> [UInt8] {
        [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
    }

    @Test func textMayContainBlankLinesAsTheSpecAllows() throws {
        let s = try NoteSigner.generate(name: "n")
        let note = try SignedNote.sign(text: "a\n\nb\n", with: [s])
        let parsed = try SignedNote(parsing: note.serialized)
        #expect(parsed.text == "a\n\nb\n")
        #expect(try parsed.verify([s.verifier]) == [s.verifier])
    }

    static let sig = "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
    static let malformed: [(String, String)] = {
        let text: String = C2SPExample.text
        let sig: String = SignedNoteTests.sig
        var c: [(String, String)] = []
        c.append(("no blank line", "text\n\u{2014} example.com/foo " + sig + "\n"))
        c.append(("missing final newline", String(C2SPExample.note.dropLast())))
        c.append(("no signatures", "text\n\n"))
        c.append(("bad base64 (no padding)", text + "\n\u{2014} example.com/foo " + String(sig.dropLast()) + "\n"))
        c.append(("bad base64 character", text + "\n\u{2014} example.com/foo *" + String(sig.dropFirst()) + "\n"))
        c.append(("short signature", text + "\n\u{2014} example.com/foo Uw2QOg==\n"))
        c.append(("empty signature", text + "\n\u{2014} example.com/foo \n"))
        c.append(("no space after name", text + "\n\u{2014} example.com/foo\n"))
        c.append(("space in name", text + "\n\u{2014} example.com foo " + sig + "\n"))
        c.append(("plus in name", text + "\n\u{2014} example.com+foo " + sig + "\n"))
        c.append(("no-break space in name", text + "\n\u{2014} example.com\u{00A0}foo " + sig + "\n"))
        c.append(("empty name", text + "\n\u{2014}  " + sig + "\n"))
        c.append(("hyphen instead of em dash", text + "\n- example.com/foo " + sig + "\n"))
        c.append(("carriage return", "This is an example message.\r\n\n" + C2SPExample.signatureLine))
        c.append(("tab in text", "a\tb\n\n" + C2SPExample.signatureLine))
        c.append(("only a blank line", "\n\n"))
        c.append(("empty", ""))
        return c
    }()

    @Test(arguments: SignedNoteTests.malformed)
    func malformedNotesAreRefused(_ c: (String, String)) {
        #expect(errorCode { _ = try SignedNote(parsing: c.1) } == "malformed_note", "\(c.0)")
    }

    @Test func onlyTheLastBlankLineSeparatesSignatures() throws {
        // A blank line among the signature lines makes the earlier lines part of the text.
        let v = try NoteVerifier(vkey: C2SPExample.vkey)
        let note = try SignedNote(parsing: C2SPExample.note + "\n" + C2SPExample.signatureLine)
        #expect(note.text == C2SPExample.note)
        #expect(note.signatures.count == 1)
        #expect(errorCode { try note.verify([v]) } == "bad_signature")
    }

    @Test func limits() throws {
        let line = C2SPExample.signatureLine
        let v = try NoteVerifier(vkey: C2SPExample.vkey)
        let hundred = C2SPExample.text + "\n" + String(repeating: line, count: 100)
        #expect(try SignedNote(parsing: hundred).verify([v]) == [v])
        #expect(errorCode { _ = try SignedNote(parsing: C2SPExample.text + "\n" + String(repeating: line, count: 101)) } == "malformed_note")
        let big = String(repeating: "a", count: 1 << 20) + "\n\n" + line
        #expect(errorCode { _ = try SignedNote(parsing: big) } == "malformed_note")
    }

    @Test func signRefusesInvalidText() throws {
        let s = try NoteSigner.generate(name: "n")
        #expect(errorCode { _ = try SignedNote.sign(text: "", with: [s]) } == "malformed_note")
        #expect(errorCode { _ = try SignedNote.sign(text: "no newline", with: [s]) } == "malformed_note")
        #expect(errorCode { _ = try SignedNote.sign(text: "bell\u{07}\n", with: [s]) } == "malformed_note")
        #expect(errorCode { _ = try SignedNote.sign(text: "x\n", with: []) } == "invalid_argument")
    }
}

@Suite struct NoteKeyTests {
    @Test func vkeyWithWrongKeyIDIsRefused() {
        #expect(errorCode { _ = try NoteVerifier(vkey: "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k") } == "key_id_mismatch")
        // Same key under another name: the ID no longer matches.
        #expect(errorCode { _ = try NoteVerifier(vkey: "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k") } == "key_id_mismatch")
    }

    @Test func keyIDHexMayBeUppercaseButIsWrittenLowercase() throws {
        let v = try NoteVerifier(vkey: "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
        #expect(v.vkey == C2SPExample.vkey)
    }

    @Test(arguments: [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  // algorithm byte 0x02
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA==",
    ])
    func malformedVkeysAreRefused(_ vkey: String) {
        #expect(errorCode { _ = try NoteVerifier(vkey: vkey) } == "malformed_key", "\(vkey)")
    }

    @Test func skeyRoundTrip() throws {
        let s = try NoteSigner.generate(name: "meterproof.example/log")
        let back = try NoteSigner(skey: s.skey)
        #expect(back.name == s.name)
        #expect(back.keyID == s.keyID)
        #expect(back.skey == s.skey)
        #expect(back.verifier == s.verifier)
        #expect(try NoteVerifier(vkey: s.verifier.vkey) == s.verifier)
        #expect(s.skey.hasPrefix("PRIVATE+KEY+meterproof.example/log+"))
    }

    @Test func malformedSkeysAreRefused() {
        let good = GoExample.skey
        #expect(errorCode { _ = try NoteSigner(skey: String(good.dropFirst(8))) } == "malformed_key")
        #expect(errorCode { _ = try NoteSigner(skey: good.replacingFirst("c74f20a3", with: "c74f20a4")) } == "key_id_mismatch")
        #expect(errorCode { _ = try NoteSigner(skey: good.replacingFirst("AYEK", with: "AoEK")) } == "malformed_key")
        #expect(errorCode { _ = try NoteSigner(skey: String(good.dropLast(2))) } == "malformed_key")
        #expect(errorCode { _ = try NoteSigner(skey: GoExample.vkey) } == "malformed_key")
        #expect(errorCode { _ = try NoteSigner.generate(name: "has space") } == "malformed_key")
        #expect(errorCode { _ = try NoteSigner.generate(name: "") } == "malformed_key")
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
