#!/usr/bin/env python3
"""Check a MeterProof export bundle without MeterProof: Python 3 and `cryptography` only.

    python3 check_bundle.py BUNDLE_DIR [--log-key VKEY_TEXT_OR_FILE]

Checks SHA256SUMS (every file listed, no more, all hashes), the Ed25519 signature of the
checkpoint (c2sp.org/signed-note) under the log key, the manifest, every entry (canonical
JSON, increasing seq, in the tree: the RFC 6962 root recomputed from entries.jsonl for a full
prefix, else each proofs/<seq>.tlog-proof checked against the checkpoint), entries.csv, the
pinned RSA keys, and the PS256 signature and claims of every accepted entry's token.
Exit 0 when sound, 1 when a check fails, 2 on bad usage or when `cryptography` is missing.
"""
import base64
import hashlib
import json
import math
import os
import sys


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def read(bundle, rel):
    with open(os.path.join(bundle, rel), "rb") as f:
        return f.read()


def b64url(s):
    check(all(c.isalnum() or c in "-_" for c in s), "token segment is not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    check(len(keys) == len(set(keys)), "duplicate JSON member")
    return dict(pairs)


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    check(index < size, "proof index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        check(sn != 0, "proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    check(sn == 0, "proof too short")
    check(r == root, "proof does not lead to the checkpoint root")


def csv_field(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v == "" or any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def main(argv):
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        print("skipped: the Python package 'cryptography' is not installed (pip install cryptography)")
        return 2
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--log-key"):
        print(__doc__)
        return 2
    bundle = argv[1]

    # 1. SHA256SUMS lists every other file, and every hash matches.
    sums = read(bundle, "SHA256SUMS").decode("utf-8")
    check(sums.endswith("\n"), "SHA256SUMS does not end in a newline")
    listed = {}
    for line in sums[:-1].split("\n"):
        check(len(line) > 66 and line[64:66] == "  ", "malformed SHA256SUMS line: %r" % line)
        listed[line[66:]] = line[:64]
    found = set()
    for d, _, files in os.walk(bundle):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), bundle).replace(os.sep, "/")
            if rel != "SHA256SUMS":
                found.add(rel)
    check(found == set(listed), "SHA256SUMS does not list exactly the bundle's files: %s" % sorted(found ^ set(listed)))
    for rel, want in listed.items():
        h = hashlib.sha256()
        with open(os.path.join(bundle, rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        check(h.hexdigest() == want, "%s does not match SHA256SUMS" % rel)

    # 2. The checkpoint is signed by the log key (c2sp.org/signed-note, Ed25519).
    vkey = argv[3] if len(argv) == 4 else read(bundle, "log-key.vkey").decode()
    if os.path.isfile(vkey):
        vkey = open(vkey).read()
    name, key_id, key_b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    check(len(raw) == 33 and raw[0] == 1, "the log key is not an Ed25519 vkey")
    check(hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4] == bytes.fromhex(key_id), "vkey key ID mismatch")
    log_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    note = read(bundle, "checkpoint")
    split = note.rfind(b"\n\n")
    check(split > 0, "checkpoint is not a signed note")
    text, signed = note[: split + 1], False
    for sig_line in note[split + 2:].decode().splitlines():
        check(sig_line.startswith("\u2014 "), "bad signature line in checkpoint")
        sig_name, sig_b64 = sig_line[2:].split(" ", 1)
        sig = base64.b64decode(sig_b64, validate=True)
        if sig_name == name and sig[:4] == bytes.fromhex(key_id):
            try:
                log_key.verify(sig[4:], text)
                signed = True
            except InvalidSignature:
                raise Failed("the checkpoint signature does not verify under the log key")
    check(signed, "the checkpoint carries no signature by the log key")
    origin, size_text, root_b64 = text.decode().split("\n")[:3]
    size, root = int(size_text), base64.b64decode(root_b64, validate=True)

    # 3. The manifest names this checkpoint.
    m = json.loads(read(bundle, "manifest.json"), object_pairs_hook=no_duplicates)
    check(m["format"] == "meterproof-export@v1", "unknown manifest format")
    check((m["origin"], m["treeSize"], m["root"]) == (origin, size, root_b64), "manifest does not match the checkpoint")
    full = m["selection"]["fullPrefix"]

    # 4. Keys: each bundled PEM matches its pin (SHA-256 of the DER SubjectPublicKeyInfo).
    pins = json.loads(read(bundle, "keys/keyring.json"), object_pairs_hook=no_duplicates)["keys"]
    keys = {}
    for pin in pins:
        key = serialization.load_pem_public_key(read(bundle, "keys/v%d.pem" % pin["version"]))
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        check(hashlib.sha256(der).hexdigest() == pin["sha256"], "keys/v%d.pem does not match its pin" % pin["version"])
        keys[pin["version"]] = (key, pin["sha256"])

    # 5. Entries, streamed: canonical JSON, increasing seq, in the tree (root or proof),
    #    the same row in entries.csv, and for accepted ones the token.
    proofs_dir = os.path.join(bundle, "proofs")
    proof_files = set(os.listdir(proofs_dir)) if os.path.isdir(proofs_dir) else set()
    check(not (full and proof_files), "a full-prefix bundle carries no proofs")
    stack, last, count, accepted, reasons, first = [], -1, 0, 0, {}, None
    csv = open(os.path.join(bundle, "entries.csv"), "rb")
    header = None
    with open(os.path.join(bundle, "entries.jsonl"), "rb") as lines:
        for line in lines:
            check(line.endswith(b"\n"), "entries.jsonl does not end in a newline")
            line = line[:-1]
            e = json.loads(line, object_pairs_hook=no_duplicates)
            canon = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            check(canon == line, "entry is not canonical JSON: %r" % line[:80])
            seq = e["seq"]
            check(isinstance(seq, int) and last < seq < size, "entry seq %r out of order or beyond the checkpoint" % seq)
            last, count = seq, count + 1
            first = seq if first is None else first
            leaf = hashlib.sha256(b"\x00" + line).digest()
            if full:
                check(seq == count - 1, "a full-prefix bundle misses entry %d" % (count - 1))
                height = 0  # fold into a frontier of perfect subtrees (RFC 6962 root at the end)
                while stack and stack[-1][0] == height:
                    leaf = node(stack.pop()[1], leaf)
                    height += 1
                stack.append((height, leaf))
            else:
                name = "%d.tlog-proof" % seq
                check(name in proof_files, "entry %d has no proof" % seq)
                head, _, cp = read(bundle, "proofs/" + name).partition(b"\n\n")
                check(cp == note, "proof %d is not against the bundle's checkpoint" % seq)
                plines = head.decode().split("\n")
                check(plines[0] == "c2sp.org/tlog-proof@v1", "proof %d has a bad header" % seq)
                if plines[1].startswith("extra "):
                    plines = plines[:1] + plines[2:]
                check(plines[1] == "index %d" % seq, "proof %d has the wrong index" % seq)
                verify_inclusion(leaf, seq, size, [base64.b64decode(h, validate=True) for h in plines[2:]], root)
            if header is None:
                header = sorted(e)
                want = (",".join(header) + "\r\n").encode()
                check(csv.read(len(want)) == want, "entries.csv header does not match the entry fields")
            row = (",".join(csv_field(e[k]) for k in header) + "\r\n").encode()
            check(csv.read(len(row)) == row, "entries.csv row of entry %d does not match entries.jsonl" % seq)
            if e["outcome"] != "accepted":
                reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
                continue
            accepted += 1
            key, fp = keys.get(e["publicKeyVersion"], (None, None))
            check(key is not None and fp == e["keyFingerprint"], "entry %d: no bundled key %s" % (seq, e["keyFingerprint"]))
            h, p, s = e["token"].split(".")
            check(json.loads(b64url(h))["alg"] == "PS256", "entry %d: alg is not PS256" % seq)
            try:
                key.verify(b64url(s), (h + "." + p).encode(),
                           padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
            except InvalidSignature:
                raise Failed("entry %d: the token's PS256 signature does not verify" % seq)
            claims = json.loads(b64url(p), object_pairs_hook=no_duplicates)
            get = lambda camel: claims.get(camel, claims.get(camel[0].upper() + camel[1:]))
            iat = claims.get("iat")
            got = (get("productCode"), int(get("publicKeyVersion")), get("nonce"), math.floor(iat) if iat is not None else None)
            want = (e["productCode"], e["publicKeyVersion"], e["nonce"], e["issuedAt"])
            check(got == want, "entry %d: token claims %r, the entry records %r" % (seq, got, want))
    rest = csv.read()
    check(rest == b"" or (header is None and rest.count(b"\r\n") == 1 and rest.endswith(b"\r\n")), "entries.csv has rows beyond the entries")
    if full:
        check(count == size, "a full-prefix bundle must hold all %d entries" % size)
        h = stack.pop()[1] if stack else hashlib.sha256(b"").digest()
        while stack:
            h = node(stack.pop()[1], h)
        check(h == root, "the entries do not hash to the checkpoint root")
    else:
        check(len(proof_files) == count, "proofs/ holds proofs without entries")

    # 6. The manifest's counts.
    c = m["counts"]
    check((c["entries"], c["accepted"], c["rejected"], c["byReason"]) == (count, accepted, count - accepted, reasons),
          "manifest counts do not match the entries")
    check((m["firstSeq"], m["lastSeq"]) == ((first, last) if count else (None, None)), "manifest seqs")

    print("OK: %d entries (%d accepted, %d rejected) of log %s, checkpoint size %d; %s; %d tokens re-verified"
          % (count, accepted, count - accepted, origin, size,
             "root recomputed" if full else "%d proofs checked" % count, accepted))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Failed as f:
        print("FAILED:", f)
        sys.exit(1)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as x:
        print("FAILED: unreadable bundle:", repr(x))
        sys.exit(1)
