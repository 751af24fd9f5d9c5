#!/usr/bin/env python3
"""Independent check of a MeterProof audit trail, written from the public specs only.

Uses nothing but hashlib, base64 and the Ed25519 of the `cryptography` package, so an auditor can
read it in a few minutes and trust it instead of MeterProof's own code:

  RFC 6962 section 2.1   leaf hash SHA-256(0x00 || entry), node hash SHA-256(0x01 || l || r),
                         split at the largest power of two below n; RFC 9162 2.1.3.2 inclusion check
  c2sp.org/signed-note   text, blank line, lines "— <name> <base64(key ID || signature)>";
                         key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4];
                         vkey = <name>+<hex key ID>+<base64(0x01 || public key)>
  c2sp.org/tlog-checkpoint  <origin>\\n<size>\\n<base64 root>\\n
  c2sp.org/tlog-proof    c2sp.org/tlog-proof@v1, [extra], index N, hashes, blank line, checkpoint

Usage:
  check_trail.py LOG.jsonl VKEY [--checkpoint FILE] [--proof FILE]

LOG.jsonl is the output of `meterproof audit log --format jsonl` (each entry's canonical bytes,
one per line, in seq order). VKEY is the log's verifier key text. Prints

  entries <n>
  root <base64 root of all n entries>
  checkpoint OK <origin> <size>          (--checkpoint: signature and root of the first <size> entries)
  proof OK index <i> size <size>         (--proof: checkpoint signature and inclusion of entry <i>)

and exits 0; on any mismatch prints one line "FAIL: <why>" and exits 1; bad usage exits 2.
"""

import base64
import hashlib
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover
    print("FAIL: the python package 'cryptography' is not installed")
    sys.exit(3)


class Failure(Exception):
    pass


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_hash(leaves):
    """RFC 6962 Merkle Tree Hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Failure("index %d is not below the tree size %d" % (index, size))
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Failure("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Failure("the inclusion proof is too short")
    if r != root:
        raise Failure("the inclusion proof does not lead to the checkpoint's root")


def b64(text, what, length=None):
    try:
        raw = base64.b64decode(text, validate=True)
    except Exception:
        raise Failure("%s is not base64: %r" % (what, text))
    if base64.b64encode(raw).decode() != text:
        raise Failure("%s is not canonical padded base64: %r" % (what, text))
    if length is not None and len(raw) != length:
        raise Failure("%s has %d bytes, not %d" % (what, len(raw), length))
    return raw


def parse_vkey(vkey):
    parts = vkey.strip().split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise Failure("the vkey is not <name>+<hex id>+<base64 key>")
    name, hex_id, key_b64 = parts
    key = b64(key_b64, "the vkey's key", 33)
    if key[0] != 0x01:
        raise Failure("the vkey is not an Ed25519 key (type byte %d)" % key[0])
    public = key[1:]
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]
    if len(hex_id) != 8 or bytes.fromhex(hex_id) != key_id:
        raise Failure("the vkey's key ID %s is not SHA-256(name || 0x0A || 0x01 || key)[:4] = %s" % (hex_id, key_id.hex()))
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


def verify_note(note, vkey):
    """Checks a signed note against the vkey; returns its text."""
    name, key_id, public = vkey
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Failure("the note has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    verified = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Failure("a signature line does not start with an em dash and a space")
        sig_name, _, sig_b64 = line[2:].partition(" ")
        raw = b64(sig_b64, "a signature")
        if sig_name != name or raw[:4] != key_id:
            continue  # another key's signature (e.g. a witness): ignored
        try:
            public.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Failure("the signature by %s does not verify" % name)
        verified = True
    if not verified:
        raise Failure("the note is not signed by %s+%s" % (name, key_id.hex()))
    return text


def parse_checkpoint(text):
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise Failure("the checkpoint lacks origin, size or root")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Failure("the checkpoint size %r is not a decimal without leading zeros" % size)
    return origin, int(size), b64(root, "the checkpoint root", 32)


def check_checkpoint(path, vkey, leaves):
    with open(path, encoding="utf-8", newline="") as f:
        note = f.read()
    origin, size, root = parse_checkpoint(verify_note(note, vkey))
    if origin != vkey[0]:
        raise Failure("the checkpoint is for log %s, not %s" % (origin, vkey[0]))
    if size > len(leaves):
        raise Failure("the checkpoint covers %d entries but the log has %d" % (size, len(leaves)))
    if tree_hash(leaves[:size]) != root:
        raise Failure("the root of the first %d entries does not match the checkpoint" % size)
    print("checkpoint OK %s %d" % (origin, size))


def check_proof(path, vkey, leaves):
    with open(path, encoding="utf-8", newline="") as f:
        data = f.read()
    head, sep, note = data.partition("\n\n")
    if not sep:
        raise Failure("the proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise Failure("not a c2sp.org/tlog-proof@v1 file")
    n = 1
    if n < len(lines) and lines[n].startswith("extra "):
        n += 1
    if n >= len(lines) or not lines[n].startswith("index "):
        raise Failure("the proof has no index line")
    index_text = lines[n][len("index ") :]
    if not index_text.isdigit() or (index_text != "0" and index_text.startswith("0")):
        raise Failure("bad index %r" % index_text)
    index = int(index_text)
    hashes = [b64(h, "a proof hash", 32) for h in lines[n + 1 :]]
    origin, size, root = parse_checkpoint(verify_note(note, vkey))
    if origin != vkey[0]:
        raise Failure("the proof's checkpoint is for log %s, not %s" % (origin, vkey[0]))
    if index >= len(leaves):
        raise Failure("the log has no entry %d" % index)
    verify_inclusion(index, size, leaves[index], hashes, root)
    print("proof OK index %d size %d" % (index, size))


def main(argv):
    args = argv[1:]
    options = {}
    positional = []
    while args:
        a = args.pop(0)
        if a in ("--checkpoint", "--proof") and args:
            options[a] = args.pop(0)
        elif a.startswith("--"):
            positional = []  # unknown option or missing value: fall through to usage
            break
        else:
            positional.append(a)
    if len(positional) != 2:
        print("usage: check_trail.py LOG.jsonl VKEY [--checkpoint FILE] [--proof FILE]", file=sys.stderr)
        return 2
    log_path, vkey_text = positional
    try:
        vkey = parse_vkey(vkey_text)
        with open(log_path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            raise Failure("the log does not end in a newline")
        entries = data.split(b"\n")[:-1] if data else []
        leaves = [leaf_hash(e) for e in entries]
        print("entries %d" % len(entries))
        print("root %s" % base64.b64encode(tree_hash(leaves)).decode())
        if "--checkpoint" in options:
            check_checkpoint(options["--checkpoint"], vkey, leaves)
        if "--proof" in options:
            check_proof(options["--proof"], vkey, leaves)
    except Failure as e:
        print("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
