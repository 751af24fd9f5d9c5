import MeterProof

/// The `VERIFY.md` of a bundle: how to check it without MeterProof (sha256sum, OpenSSL 3,
/// Python 3 with `cryptography`, Go's sumdb packages).
public enum BundleInstructions {
    /// The shell function the OpenSSL steps use to decode base64url.
    static let b64urlFunction = #"b64url() { s=$(tr -d '\n' | tr '_-' '/+'); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | openssl base64 -d -A; }"#

    /// `text` as a Markdown code span that nothing in it can break out of, for text that comes
    /// from the user or the trail (product code, origin, reason codes).
    ///
    /// Printable text without backticks, quotes, backslashes or surrounding spaces is shown as
    /// it is (`` `prod-a` ``). Anything else is shown as its JSON string literal, as
    /// `manifest.json` writes it, with line breaks, control, format (bidirectional overrides,
    /// zero-width) and separator characters escaped as `\n`, `\u0000`…, inside a run of
    /// backticks longer than any in it: a newline or a fence cannot end the span, start a code
    /// block or reach a terminal that shows the file.
    static func codeSpan(_ text: String) -> String {
        func unsafe(_ u: Unicode.Scalar) -> Bool {
            switch u.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: return true
            case .spaceSeparator: return u != " "
            default: return false
            }
        }
        let scalars = text.unicodeScalars
        let plain = !text.isEmpty && scalars.first != " " && scalars.last != " "
            && !scalars.contains { $0 == "`" || $0 == "\"" || $0 == "\\" || unsafe($0) }
        var body = ""
        if plain {
            body = text
        } else {
            // The JSON string literal (as manifest.json spells it), with the characters JSON
            // may leave as they are but a reader must see (DEL, C1, format and separator
            // characters) escaped too, as UTF-16 code units like JSON writes beyond the BMP.
            for u in JSONText.quoted(text).unicodeScalars {
                guard unsafe(u) else { body.unicodeScalars.append(u); continue }
                for unit in String(u).utf16 {
                    let hex = String(unit, radix: 16)
                    body += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        var longest = 0, run = 0
        for u in body.unicodeScalars {
            run = u == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        return fence + body + fence
    }

    /// Step 1's comparison: `SHA256SUMS` names exactly the files present, no more, no fewer.
    static let fileListCommands = #"""
    (
    T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
    find . ! -type d ! -path ./SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort > "$T/present"
    cut -c67- SHA256SUMS | LC_ALL=C sort > "$T/listed"
    if diff "$T/listed" "$T/present"; then echo 'SHA256SUMS lists exactly the files present'; else echo 'MISMATCH: < listed but absent, > present but not listed'; exit 1; fi
    )
    """#

    /// Step 2: the checkpoint's Ed25519 signature by the key in `log-key.vkey`, with OpenSSL.
    /// The signature line is the one whose key name and key ID are the vkey's (a note may carry
    /// several, of other keys or witnesses); the signed text is every line before the last blank
    /// line (the signature lines are never blank), as c2sp.org/signed-note splits a note.
    static let checkpointCommands = #"""
    (
    T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
    name=$(cut -d+ -f1 log-key.vkey); id=$(cut -d+ -f2 log-key.vkey | tr 'A-F' 'a-f')
    n=$(grep -n '^$' checkpoint | tail -n 1 | cut -d: -f1); [ -n "$n" ] || { echo 'checkpoint: no blank line'; exit 1; }
    head -n "$((n - 1))" checkpoint > "$T/note.txt"
    tail -n "+$((n + 1))" checkpoint | while IFS= read -r line; do
      case "$line" in "— $name "*) ;; *) continue ;; esac
      printf '%s' "${line#"— $name "}" | openssl base64 -d -A > "$T/sig.bin"
      if [ "$(od -An -tx1 -N4 "$T/sig.bin" | tr -d ' \n')" = "$id" ]; then tail -c +5 "$T/sig.bin" > "$T/note.sig"; fi
    done
    [ -s "$T/note.sig" ] || { echo "no signature line of $name+$id"; exit 1; }
    { printf '\060\052\060\005\006\003\053\145\160\003\041\000'; cut -d+ -f3- log-key.vkey | openssl base64 -d -A | tail -c 32; } > "$T/log-key.der"
    openssl pkeyutl -verify -pubin -keyform DER -inkey "$T/log-key.der" -rawin -in "$T/note.txt" -sigfile "$T/note.sig"
    )
    """#

    /// Step 3: the embedded `check_bundle.py`, run only if its SHA-256 is the one the auditor
    /// brings (`PUBLISHED`, from MeterProof's documentation, never from the bundle).
    static let checkerCommands = #"""
    (
    T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
    [ -n "${PUBLISHED:-}" ] || { echo 'set PUBLISHED to the SHA-256 of check_bundle.py published in docs/export-bundle.md of MeterProof'; exit 1; }
    sed -n '/^```python$/,/^```$/p' VERIFY.md | sed '1d;$d' > "$T/check_bundle.py"
    printf '%s  %s\n' "$PUBLISHED" "$T/check_bundle.py" | sha256sum -c - && python3 "$T/check_bundle.py" .
    )
    """#

    /// Step 3: the fingerprint (SHA-256 of the DER SubjectPublicKeyInfo) of every bundled key.
    static let keyFingerprintCommands = #"""
    for k in keys/v*.pem; do if [ -f "$k" ]; then printf '%s  %s\n' "$(openssl pkey -pubin -in "$k" -outform DER | sha256sum | cut -c1-64)" "$k"; fi; done
    """#

    /// The warning paragraph for bundled test keys (empty when there are none).
    static func testKeyWarning(_ keys: [(version: Int, fingerprint: String)]) -> String {
        guard !keys.isEmpty else { return "" }
        // Each bundled file with the SHA-256 of the key it holds (a test key can be bundled under
        // any version number, so the file name alone does not say which one it is).
        let files = keys.map { "`keys/v\($0.version).pem` (SHA-256 `\($0.fingerprint)`)" }.joined(separator: ", ")
        return "**Warning: test keys.** \(files) \(keys.count == 1 ? "is one of" : "are") MeterProof's published TEST keys "
            + "(`keys/test` in its source). Their private halves are public, so a token "
            + "accepted under them proves nothing about AWS, whatever the checks below say. A bundle from a "
            + "production trail never holds them.\n\n"
    }

    /// The text of `VERIFY.md` for a bundle.
    ///
    /// - Parameters:
    ///   - m: the bundle's manifest (selection, counts, sizes, root, origin).
    ///   - vkey: the log's verifier key, as in `log-key.vkey`.
    ///   - keyVersions: the versions of the bundled `keys/v<N>.pem` files.
    ///   - testKeys: bundled keys (version, fingerprint) that are MeterProof's published test
    ///     keys; the text then opens with a warning.
    ///   - example: an accepted entry to walk through with OpenSSL (its seq, 1-based line in
    ///     `entries.jsonl` and key version), if the bundle has one.
    public static func text(manifest m: BundleManifest, vkey: String, keyVersions: [Int], testKeys: [(version: Int, fingerprint: String)] = [], example: (seq: UInt64, line: Int, keyVersion: Int)?) -> String {
        let sel = m.selection
        var what: [String] = []
        if let s = sel.since { what.append("recorded at or after \(s)") }
        if let u = sel.until { what.append("recorded before \(u)") }
        if let p = sel.productCode { what.append("for product \(codeSpan(p))") }
        if sel.outcome != "all" { what.append("\(sel.outcome) only") }
        let selection = what.isEmpty ? "every entry" : "entries " + what.joined(separator: ", ")
        let reasons = m.counts.exactByReason.sorted { $0.key.value.utf8.lexicographicallyPrecedes($1.key.value.utf8) }
            .map { "\(codeSpan($0.key.value)) \($0.value)" }.joined(separator: ", ")
        let range = m.firstSeq.map { $0 == m.lastSeq ? "seq \($0)" : "seq \($0)…\(m.lastSeq!)" } ?? "no entries"

        var t = """
        # Verifying this MeterProof export bundle

        \(testKeyWarning(testKeys))This directory holds \(m.counts.entries) audit-trail \(m.counts.entries == 1 ? "entry" : "entries") (\(m.counts.accepted) accepted, \(m.counts.rejected) rejected\(reasons.isEmpty ? "" : ": " + reasons); \(range))
        of the log \(codeSpan(m.origin)): \(selection) below its signed checkpoint of size \(m.treeSize)
        (root `\(m.root.base64)`). It was written by \(m.tool) at \(m.createdAt).
        \(sel.fullPrefix ? "It is a **full prefix**: it holds every entry below the checkpoint, so the root is recomputed from `entries.jsonl` and no proofs are needed." : "It is a **selection**: each entry comes with an inclusion proof `proofs/<seq>.tlog-proof` against the checkpoint.")
        \(m.newerEntriesOmitted > 0 ? "\n\(m.newerEntriesOmitted) \(m.newerEntriesOmitted == 1 ? "entry recorded after the checkpoint is" : "entries recorded after the checkpoint are") not part of this bundle.\n" : "")
        Nothing below needs MeterProof: only `sha256sum`, OpenSSL 3 and Python 3 with the
        `cryptography` package (or Go). Run every command from this directory. Each step stands on
        its own: its commands work in a fresh shell, and a step that needs a scratch directory makes
        its own (`T=$(mktemp -d)`) inside `( … )`, which removes it when the step ends.
        `meterproof export verify .` performs all of these checks at once.

        This file came with the bundle: whoever could change the bundle could change it too. Take
        the log key, the AWS keys and the checker script from elsewhere, as steps 2 and 3 say;
        `docs/export-bundle.md` in MeterProof's source describes the same checks.

        | file | what it is |
        |---|---|
        | `entries.jsonl` | one entry per line, exactly its canonical (RFC 8785) bytes; the Merkle leaf hash is `SHA-256(0x00 ‖ line)` |
        | `entries.csv` | the same entries as RFC 4180 CSV (CRLF; `null` is an empty field, the empty string is `""`) |
        | `checkpoint` | the log's signed checkpoint (c2sp.org/tlog-checkpoint, an Ed25519 c2sp.org/signed-note) |
        | `proofs/<seq>.tlog-proof` | inclusion proof of entry `seq` (c2sp.org/tlog-proof@v1), only in selections |
        | `log-key.vkey` | the log's public key (signed-note verifier key) |
        | `keys/v<N>.pem`, `keys/keyring.json` | the RSA public keys the entries name by fingerprint, as the operator's trail recorded them, pinned by SHA-256 of their DER SubjectPublicKeyInfo |
        | `manifest.json` | selection, counts, tree size, root |
        | `SHA256SUMS` | SHA-256 of every other file |

        ## 1. Every file is intact

        ```sh
        sha256sum -c SHA256SUMS
        ```

        Every line must end in `OK`. `SHA256SUMS` must also list every file but itself, no more,
        no fewer; this compares the two lists and must print `SHA256SUMS lists exactly the files present`:

        ```sh
        \(fileListCommands)
        ```

        ## 2. The checkpoint is signed by the log

        The log's key is (also in `log-key.vkey`):

            \(vkey)

        **Compare it out of band** with the key the log's operator published: a bundle can carry
        any key, so the signature means something only under the real one. The checkpoint is a
        signed note: its signed text is every line before the blank line (origin, tree size,
        root, and any extension lines), each with its line feed; after the blank line come one or
        more signature lines, each an em dash, a key name and base64 of a 4-byte key ID followed by
        the 64-byte signature. Other keys (a rotated key, witnesses) may have signed too; the
        commands pick the line whose name and key ID are the vkey's (`<name>+<hex key ID>+<key>`)
        and check it with OpenSSL 3:

        ```sh
        \(checkpointCommands)
        ```

        It must print `Signature Verified Successfully`.

        """
        t += """

        ## 3. Every entry is in the log, and every accepted token verifies

        `check_bundle.py` (at the end of this file) recomputes everything with Python's
        `hashlib` and `cryptography`: the SHA256SUMS, the Ed25519 checkpoint signature (with
        the key ID), \(sel.fullPrefix ? "the RFC 6962 root from `entries.jsonl`" : "each entry's RFC 6962 inclusion proof (RFC 9162 §2.1.3.2) against the checkpoint"),
        the manifest's counts, `entries.csv`, the key pins, and the PS256 signature
        (RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32) and claims of every accepted entry's token
        under the bundled key whose fingerprint the entry records.

        **The copy in this file is only as trustworthy as the bundle**: whoever wrote the bundle
        could make it print `OK` for anything, or run anything on your machine. Run your own copy
        (`Tests/interop/check_bundle.py` in MeterProof's source: `python3 <your copy> .`), or run
        this one only once its SHA-256 equals the value published in `docs/export-bundle.md` of
        the MeterProof version `manifest.json` names (\(codeSpan(m.tool))), never a value taken
        from this bundle (its `SHA256SUMS` and this file are the bundle's own). Set `PUBLISHED` to
        that value; the commands refuse to run the script otherwise:

        ```sh
        \(checkerCommands)
        ```

        It prints `…/check_bundle.py: OK`, then `OK: …` and exits 0, or `FAILED: …` and exits 1.
        Pass `--log-key <vkey>` to check the checkpoint under a key obtained out of band instead
        of `log-key.vkey`, and `--keys <directory of v<N>.pem files>` to check the tokens under
        AWS's keys obtained out of band instead of `keys/`.

        **The RSA keys in `keys/` are the ones the operator configured** (the trail records the key
        that verified each entry): a valid PS256 signature under them shows that AWS signed a token
        only if they are AWS's keys. Compare their fingerprints (SHA-256 of the DER
        SubjectPublicKeyInfo, also pinned in `keys/keyring.json`) out of band with the keys AWS
        publishes for RegisterUsage, or that you obtained yourself, or pass that keyring with
        `meterproof export verify . --keys <dir>`:

        ```sh
        \(keyFingerprintCommands)
        ```

        """
        if let ex = example {
            t += """

            ## 4. One token by hand with OpenSSL

            Entry \(ex.seq) (line \(ex.line) of `entries.jsonl`) was accepted under key version \(ex.keyVersion).
            Its token is a compact JWS: the signature (third part) covers the first two parts.

            ```sh
            (
            T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
            \(b64urlFunction)
            sed -n '\(ex.line)p' entries.jsonl | grep -o '"token":"[^"]*"' | cut -d'"' -f4 > "$T/token.txt"
            cut -d. -f1,2 "$T/token.txt" | tr -d '\\n' > "$T/input.txt"
            cut -d. -f3 "$T/token.txt" | b64url > "$T/sig.bin"
            cut -d. -f2 "$T/token.txt" | b64url | LC_ALL=C cat -v; echo
            openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -verify keys/v\(ex.keyVersion).pem -signature "$T/sig.bin" "$T/input.txt"
            openssl pkey -pubin -in keys/v\(ex.keyVersion).pem -outform DER | sha256sum
            )
            ```

            The payload printed must name the entry's `productCode`, `publicKeyVersion`, `nonce`
            and `iat` (= `issuedAt`); `cat -v` shows every byte outside printable ASCII as a
            visible `M-` or `^` sequence, so an invisible or right-to-left character cannot make
            one value look like another (AWS's payloads are ASCII). `openssl dgst` must print
            `Verified OK`; the last line must start with the entry's `keyFingerprint` (also pinned
            in `keys/keyring.json`).

            """
        }
        t += """

        ## \(example == nil ? 4 : 5). With Go

        `golang.org/x/mod/sumdb/note` verifies the checkpoint: `note.NewVerifier` with the vkey,
        `note.Open` with the checkpoint bytes (it picks the signature line by key name and ID
        itself). Split the note's `Text` into origin, size and root (`tlog.ParseHash`); the
        checkpoint may carry extension lines after them. `golang.org/x/mod/sumdb/tlog` checks the
        tree: `tlog.RecordHash(line)` is the leaf hash and `tlog.CheckRecord` checks an inclusion
        proof (its hashes are the proof file's hash lines in order). `tlog.TreeHash` does **not**
        take a list of leaf hashes: it reads tlog's stored-hash layout, which
        `tlog.StoredHashes(i, line, hashes)` extends record by record; and for a size-0 tree it
        returns all zeros, where RFC 6962's empty root (the one a checkpoint of size 0 carries) is
        SHA-256 of the empty string, `47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.

        The program below does this (the checkpoint and the tree only; \(example == nil ? "steps 1 and 3 check" : "steps 1, 3 and 4 check") the
        rest). It came with the bundle too: read it before you run it, or use
        `Tests/interop/check_bundle.go` from MeterProof's source. Save it **outside** the bundle
        (a file inside is one the bundle does not list, and both checkers then refuse the bundle),
        for example `sed -n '/^```go$/,/^```$/p' VERIFY.md | sed '1d;$d' > /tmp/check_bundle.go`,
        and compare `sha256sum /tmp/check_bundle.go` with the value `docs/export-bundle.md` of
        MeterProof publishes for \(codeSpan(m.tool)) (or `diff` it with MeterProof's copy). Run it as
        `go run /tmp/check_bundle.go <bundle> [<vkey obtained out of band>]` in a Go module that
        requires `golang.org/x/mod`, or with Debian's `golang-golang-x-mod-dev` as
        `GO111MODULE=off GOPATH=/usr/share/gocode go run /tmp/check_bundle.go …`; it prints `OK: …`,
        or `FAILED: …` and exits 1.

        ```go
        \(goProgram)```

        ## What this bundle proves, and what it does not

        - Each entry in `entries.jsonl` is, byte for byte, entry `seq` of the log whose key
          signed the checkpoint. Anyone can rewrite `SHA256SUMS`, but editing, reordering or
          inventing an entry breaks its proof (or the recomputed root), and only the log key
          can sign a checkpoint for a changed tree.
        - Each accepted entry's token carries a valid PS256 signature under the bundled key whose
          fingerprint the entry records, with the claims the entry records. The bundled keys are
          what the operator configured; that they are AWS's is shown only by comparing them with
          AWS's keys (step 3).
        - \(sel.fullPrefix ? "Being a full prefix, it also proves that no entry below the checkpoint is missing." : "A selection proves membership, not completeness: it cannot show that no other entry matching the selection exists. For completeness, ask for a full-prefix bundle (an export without filters) and compare.")
        - Rejected entries are proved to be recorded; their tokens are not re-judged.
        - Entries recorded after the checkpoint are not covered.
        - It does not protect against whoever holds the log key, usually the log's operator:
          with it, entries can be dropped and a checkpoint signed for the shortened history, and
          an older checkpoint with entries cut to match passes as a full prefix. Keep every
          checkpoint you receive and compare it with later ones (same origin: the later size is
          not smaller and, with the trail, `meterproof audit verify --against <older checkpoint>`
          or `meterproof audit consistency --from <older checkpoint>` proves it extends the
          older one); a checkpoint cosigned by a witness you trust gives the same assurance.

        ## check_bundle.py

        ```python

        """
        t += pythonScript
        t += "```\n"
        return t
    }
}
