#!/usr/bin/env python3
"""Check a MeterProof export bundle without MeterProof: Python 3 and `cryptography` only.

    python3 check_bundle.py BUNDLE_DIR [--log-key VKEY_TEXT_OR_FILE] [--keys KEYRING_DIR]

Checks what `meterproof export verify` checks, stopping at the first failure:
- the file set: only the bundle's own files (no links, no other files or directories);
  SHA256SUMS lists every other file once, sorted, and every hash matches;
- log-key.vkey (with --log-key, it must be that key) and the checkpoint: the whole signed
  note (c2sp.org/signed-note, c2sp.org/tlog-checkpoint, extension lines included) and its
  Ed25519 signature under the log key;
- manifest.json: its members and their types (integers must be JSON integers), the
  checkpoint's origin, size and root; since/until as an export writes them (UTC with
  milliseconds); a selection without filters must be a full prefix;
- keys/: exactly v<N>.pem files (PEM SubjectPublicKeyInfo, as exported, no key twice) and
  keyring.json pinning exactly them;
- every entry: canonical JSON of the entry's members and types, strictly increasing seq
  below the checkpoint size, matching the manifest's selection (recordedAt in
  [since, until) to the millisecond, productCode, outcome); a full prefix holds every entry
  0..size-1 and its RFC 6962 root is recomputed from entries.jsonl, else each
  proofs/<seq>.tlog-proof is checked against the checkpoint (and no proof is left over);
- entries.csv: exactly the header row and each entry's row (a string starting with
  = + - @ TAB or CR is written with a leading apostrophe);
- every accepted entry: its key (version and fingerprint) is bundled (with --keys, in that
  directory's v<N>.pem files, obtained out of band: AWS's keys), its token's header,
  PS256 signature and claims verify (one spelling per claim; publicKeyVersion an integer;
  PublicKeyRotationTimestamp any value, since it only ever warns), productCode, publicKeyVersion,
  nonce and iat equal the recorded ones, and no (productCode, nonce) is accepted twice;
- the manifest's counts and first/last seq; every bundled key is recorded by some entry.
Exit 0 when sound (with a WARNING line when accepted entries were verified under MeterProof's
published test keys), 1 when a check fails, 2 on bad usage or when `cryptography` is missing.
"""
import base64
import hashlib
import json
import math
import os
import re
import sys

# The entry members in canonical (sorted) order: also the header row of entries.csv.
FIELDS = ["binding", "captureFile", "captureHash", "captureLine", "capturedAt", "issuedAt", "keyFingerprint",
          "message", "nonce", "outcome", "productCode", "publicKeyVersion", "reason", "recordedAt", "seq", "source",
          "token", "warnings"]
INT_FIELDS = {"captureLine", "issuedAt", "publicKeyVersion"}  # integer or null; seq is a non-negative integer
# SHA-256 of the DER SubjectPublicKeyInfo of MeterProof's published test keys (keys/test/v1.pem,
# v2.pem): their private halves are public, so acceptances under them prove nothing.
TEST_KEY_FINGERPRINTS = {
    "a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d",
    "0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85",
}
CHOICES = {"binding": ("bound", "unbound"), "outcome": ("accepted", "rejected"), "source": ("live", "import")}
CSV_HEADER = (",".join(FIELDS) + "\r\n").encode()
TOP_FILES = {"SHA256SUMS", "VERIFY.md", "checkpoint", "entries.csv", "entries.jsonl", "log-key.vkey", "manifest.json"}
KEY_FILE = re.compile(r"v[1-9][0-9]{0,9}\.pem")  # N: a key version, 1 to 2147483647
PROOF_FILE = re.compile(r"(0|[1-9][0-9]{0,18})\.tlog-proof")
B64URL = re.compile(r"[A-Za-z0-9_-]*")
SUMS_LINE = re.compile(rb"([0-9a-f]{64})  ([^\n]+)")
RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
                     r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
INT64_MAX = (1 << 63) - 1
INT32_MAX = (1 << 31) - 1
AWS_HEADER = "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"PS256","typ":"JWT"}: passes every header rule
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Failed(Exception):
    pass


def check(cond, msg, *args):
    """Fails with `msg % args` unless `cond` (the message is only formatted on failure)."""
    if not cond:
        raise Failed(msg % args if args else msg)


MAX_ENTRY_BYTES = 1 << 20  # what MeterProof stores at most per entry


def read(bundle, rel, limit=1 << 20):
    """The whole file, refused when longer than `limit` (the limits `export verify` reads with)."""
    with open(os.path.join(bundle, rel), "rb") as f:
        data = f.read(limit + 1)
    check(len(data) <= limit, "%s is larger than any bundle's (%d bytes at most)", rel, limit)
    return data


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    check(len(keys) == len(set(keys)), "duplicate JSON member")
    return dict(pairs)


def no_constant(name):
    raise Failed("%s is not JSON" % name)


def json_int(text):
    check(text != "-0", "-0 is not an integer MeterProof writes")
    return int(text)


def strict_json(data, what):
    """UTF-8 JSON without duplicate members, NaN, Infinity or -0."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Failed("%s is not UTF-8" % what)
    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant, parse_int=json_int)


def is_count(v):
    """A JSON integer (not a boolean, not 1.0) from 0 to 2^63-1."""
    return type(v) is int and 0 <= v <= INT64_MAX


def b64(s, what, size=None):
    """Standard padded base64 in its one canonical spelling (as MeterProof and Go read it)."""
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        raise Failed("%s is not base64" % what)
    check(base64.b64encode(raw).decode() == s and (size is None or len(raw) == size),
          "%s is not standard padded base64%s", what, "" if size is None else " of %d bytes" % size)
    return raw


def b64url(s, what):
    """Unpadded base64url in its canonical spelling (a JWS segment)."""
    check(B64URL.fullmatch(s) is not None, "%s is not base64url", what)
    try:
        raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except ValueError:
        raise Failed("%s is not base64url" % what)
    check(base64.urlsafe_b64encode(raw).decode().rstrip("=") == s, "%s is not canonical base64url", what)
    return raw


def decimal(s, what):
    """0 or a decimal without leading zeros that fits in 64 bits."""
    check(s.isascii() and s.isdigit() and len(s) <= 20 and (s == "0" or s[0] != "0") and int(s) < 1 << 64,
          "%s is not a decimal without leading zeros", what)
    return int(s)


def valid_name(name):
    """A signed-note key name or checkpoint origin: non-empty, no white space, '+' or control character."""
    return name != "" and not any(c == "+" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name)


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + doe - 719468


def rfc3339_ms(text):
    """Milliseconds since the epoch, as MeterProof reads a time (RFC3339.parseMilliseconds): a
    fraction finer than the millisecond is dropped; years 0000-9999; None if it does not parse."""
    t = RFC3339.fullmatch(text)
    if t is None:
        return None
    y, mo, d, h, mi, s = (int(x) for x in t.groups()[:6])
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= mo <= 12 and 1 <= d <= month_days[mo - 1] and h < 24 and mi < 60 and s < 60):
        return None
    offset = 0
    if t.group(8):
        oh, om = int(t.group(9)), int(t.group(10))
        if oh >= 24 or om >= 60:
            return None
        offset = (oh * 3600 + om * 60) * (-1 if t.group(8) == "-" else 1)
    ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset) * 1000 + int((t.group(7) or "0").ljust(3, "0")[:3])
    if not days_from_civil(0, 1, 1) * 86400000 <= ms < days_from_civil(10000, 1, 1) * 86400000:
        return None
    return ms


def parse_vkey(text, what):
    """<name>+<8 hex key ID>+<base64(0x01 || Ed25519 key)>: (name, key ID, raw key), key ID checked."""
    parts = text.split("+", 2)
    check(len(parts) == 3 and valid_name(parts[0]) and re.fullmatch(r"[0-9a-fA-F]{8}", parts[1]) is not None,
          "%s is not a signed-note verifier key <name>+<key ID>+<base64 key>" % what)
    raw = b64(parts[2], what, 33)
    check(raw[0] == 1, "%s is not an Ed25519 key", what)
    key_id = hashlib.sha256(parts[0].encode() + b"\n\x01" + raw[1:]).digest()[:4]
    check(key_id == bytes.fromhex(parts[1]), "%s: the key ID does not match the key", what)
    return parts[0], key_id, raw[1:]


def parse_checkpoint(note):
    """A signed note (c2sp.org/signed-note) whose text is a c2sp.org/tlog-checkpoint, read whole:
    returns the text, its signature lines as (name, key ID, signature), origin, size and root."""
    check(len(note) <= 1 << 20, "the checkpoint is larger than 1 MiB")
    try:
        note.decode("utf-8")
    except UnicodeDecodeError:
        raise Failed("the checkpoint is not UTF-8")
    check(not any(c < 0x20 and c != 0x0A for c in note), "the checkpoint contains a control character other than newline")
    split = note.rfind(b"\n\n")
    check(split >= 0, "the checkpoint is not a signed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2:]
    check(block.endswith(b"\n"), "the checkpoint's signature block is empty or does not end in a newline")
    sigs = []
    for line in block[:-1].split(b"\n"):
        check(len(sigs) < 100, "the checkpoint has more than 100 signatures")
        check(line.startswith("\u2014 ".encode()), "a checkpoint signature line does not start with an em dash and a space")
        name, _, sig_b64 = line[4:].decode().partition(" ")
        check(valid_name(name) and sig_b64 != "", "a checkpoint signature line is not '\u2014 <name> <base64>'")
        sig = b64(sig_b64, "a checkpoint signature")
        check(len(sig) >= 5, "a checkpoint signature is shorter than 5 bytes")
        sigs.append((name, sig[:4], sig[4:]))
    lines = text[:-1].decode().split("\n")
    check(len(lines) >= 3, "the checkpoint needs origin, size and root lines")
    check(valid_name(lines[0]), "the checkpoint origin is empty or contains white space or '+'")
    size = decimal(lines[1], "the checkpoint's tree size")
    root = b64(lines[2], "the checkpoint's root", 32)
    check(all(lines[3:]), "the checkpoint has an empty extension line")
    return text, sigs, lines[0], size, root


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
    """One entries.csv field: null is empty; integers and booleans as they are; a string that
    starts with = + - @ TAB or CR gets a leading apostrophe (so a spreadsheet does not run it as
    a formula), then is quoted when it is empty or holds , " CR or LF, with " doubled."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v.startswith(FORMULA_START):
        v = "'" + v
    if v == "" or any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def entry_types_ok(types):
    """Whether the member types (in FIELDS order) are those of an entry: seq an integer,
    binding, outcome, recordedAt and source strings, INT_FIELDS integers or null, others
    strings or null."""
    for k, t in zip(FIELDS, types):
        if k == "seq" or k in INT_FIELDS:
            ok = t is int or (t is type(None) and k != "seq")
        else:
            ok = t is str or (t is type(None) and k not in CHOICES and k != "recordedAt")
        if not ok:
            return False
    return True


ENTRY_TYPES = set()  # member type tuples already found to be an entry's (there are few)


def check_entry(e, line_no):
    """The entry shape MeterProof reads: exactly FIELDS, each of its type and range."""
    check(list(e) == FIELDS, "entries.jsonl line %d does not have exactly the entry members", line_no)
    types = tuple(map(type, e.values()))
    if types not in ENTRY_TYPES:
        check(entry_types_ok(types), "entries.jsonl line %d: a member has the wrong type (%s)",
              line_no, ", ".join("%s %s" % (k, t.__name__) for k, t in zip(FIELDS, types)))
        ENTRY_TYPES.add(types)
    check(e["binding"] in CHOICES["binding"] and e["outcome"] in CHOICES["outcome"] and e["source"] in CHOICES["source"],
          "entries.jsonl line %d: binding, outcome or source is not one of %r", line_no, CHOICES)
    check(0 <= e["seq"] <= INT64_MAX and all(e[k] is None or -INT64_MAX - 1 <= e[k] <= INT64_MAX for k in INT_FIELDS),
          "entries.jsonl line %d: an integer member is not a 64-bit integer (seq non-negative)", line_no)
    check((e["outcome"] == "accepted") == (e["reason"] is None),
          "entries.jsonl line %d: reason must be null exactly when the entry is accepted" % line_no)


def check_manifest(m):
    """The members and types `export verify` requires (BundleManifest)."""
    def members(obj, names, what):
        check(type(obj) is dict and sorted(obj) == sorted(names), "%s does not have exactly the members %s", what, ", ".join(names))
    members(m, ["format", "tool", "createdAt", "origin", "treeSize", "root", "selection", "counts", "firstSeq",
                "lastSeq", "newerEntriesOmitted"], "manifest.json")
    check(m["format"] == "meterproof-export@v1", "unknown manifest format")
    for k in ("tool", "createdAt", "origin", "root"):
        check(type(m[k]) is str, "manifest.json %s is not a string", k)
    for k in ("treeSize", "newerEntriesOmitted", "firstSeq", "lastSeq"):
        check(is_count(m[k]) or (k.endswith("Seq") and m[k] is None), "manifest.json %s is not a non-negative integer", k)
    s = m["selection"]
    members(s, ["since", "until", "productCode", "outcome", "fullPrefix"], "manifest.json selection")
    check(s["outcome"] in ("all", "accepted", "rejected"), "selection.outcome must be all, accepted or rejected")
    check(type(s["fullPrefix"]) is bool, "selection.fullPrefix is not a boolean")
    for k in ("since", "until", "productCode"):
        check(s[k] is None or type(s[k]) is str, "selection.%s is not a string or null", k)
    for k in ("since", "until"):
        check(s[k] is None or rfc3339_ms(s[k]) is not None, "selection.%s is not an RFC 3339 time", k)
        # One spelling per bound, as an export writes it: UTC with milliseconds.
        check(s[k] is None or re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", s[k]) is not None,
              "selection.%s is not written as an export writes it (UTC with milliseconds)", k)
    c = m["counts"]
    members(c, ["entries", "accepted", "rejected", "byReason"], "manifest.json counts")
    check(all(is_count(c[k]) for k in ("entries", "accepted", "rejected")), "manifest.json counts are not non-negative integers")
    check(type(c["byReason"]) is dict and all(is_count(v) for v in c["byReason"].values()),
          "manifest.json counts.byReason is not an object of non-negative integers")


def check_token(e, key, hashes, padding, InvalidSignature):
    """The token of an accepted entry: header rules, PS256 signature under `key`, claims, and
    the claims equal to what the entry records. Returns nothing; raises Failed."""
    seq = e["seq"]
    parts = e["token"].split(".")
    check(len(parts) == 3, "entry %d: the token is not a compact JWS", seq)
    h, p, s = parts
    if h != AWS_HEADER:
        header = strict_json(b64url(h, "entry %d: the token header" % seq), "the token header")
        check(type(header) is dict and header.get("alg") == "PS256", "entry %d: the token's alg is not PS256", seq)
        typ = header.get("typ", "JWT")  # a media type (RFC 7515 4.1.9): any case, "application/" optional
        check(not set(header) & {"crit", "jku", "x5u", "jwk", "x5c", "b64", "zip", "enc"}
              and type(typ) is str and typ.lower() in ("jwt", "application/jwt"),
              "entry %d: the token header carries crit, jku, x5u, jwk, x5c, b64, zip or enc, or a typ other than JWT" % seq)
    # The key sizes `meterproof verify` could have accepted (512 to 8192 bits; exponent odd, 3 to
    # 2^32 - 1): a larger key would make every verification slow, and no AWS key is one.
    e_pub = key.public_numbers().e
    check(512 <= key.key_size <= 8192 and e_pub % 2 == 1 and 3 <= e_pub <= 0xFFFFFFFF,
          "entry %d: the token's key is outside what verification accepts (512 to 8192 bits, odd exponent 3 to 2^32 - 1)", seq)
    sig = b64url(s, "entry %d: the token signature" % seq)
    try:
        check(len(sig) == (key.key_size + 7) // 8, "wrong length")
        key.verify(sig, (h + "." + p).encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    except (InvalidSignature, Failed):
        raise Failed("entry %d: the token's PS256 signature does not verify" % seq)
    claims = strict_json(b64url(p, "entry %d: the token payload" % seq), "the token payload")
    check(type(claims) is dict, "entry %d: the token payload is not a JSON object" % seq)

    def claim(camel):
        pascal = camel[0].upper() + camel[1:]
        check(not (camel in claims and pascal in claims), "entry %d: the token payload carries both %s and %s", seq, camel, pascal)
        return claims.get(camel, claims.get(pascal))
    product, version, nonce = claim("productCode"), claim("publicKeyVersion"), claim("nonce")
    claim("publicKeyRotationTimestamp")  # one spelling; any value (it only ever warns)
    check(type(product) is str, "entry %d: the token's productCode is not a string", seq)
    if type(version) is str:  # leniently, a canonical decimal string
        check(re.fullmatch(r"[1-9][0-9]{0,9}", version) is not None, "entry %d: the token's publicKeyVersion is not an integer", seq)
        version = int(version)
    check(type(version) is int and 1 <= version <= INT32_MAX, "entry %d: the token's publicKeyVersion is not a positive integer", seq)
    check(nonce is None or type(nonce) is str, "entry %d: the token's nonce is not a string", seq)
    iat = claims.get("iat", None)
    if "iat" in claims:
        ok = (type(iat) is int and abs(iat) < 10 ** 15) or (type(iat) is float and math.isfinite(iat) and abs(iat) < 1e15)
        check(ok, "entry %d: the token's iat is not a NumericDate", seq)
        iat = math.floor(iat)
    got = (product, version, nonce, iat)
    want = (e["productCode"], e["publicKeyVersion"], e["nonce"], e["issuedAt"])
    check(got == want, "entry %d: token claims %r, the entry records %r", seq, got, want)


def main(argv):
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        print("skipped: the Python package 'cryptography' is not installed (pip install cryptography)")
        return 2
    options, rest = {}, argv[2:]
    while len(rest) >= 2 and rest[0] in ("--log-key", "--keys") and rest[0] not in options:
        options[rest[0]], rest = rest[1], rest[2:]
    if len(argv) < 2 or rest:
        print(__doc__)
        return 2
    bundle = argv[1]
    given_keys = None  # --keys: version -> (key, fingerprint), read like the bundle's keys/
    if "--keys" in options:
        given_keys = {}
        for name in sorted(os.listdir(options["--keys"])):
            if KEY_FILE.fullmatch(name) and int(name[1:-4]) <= INT32_MAX:
                with open(os.path.join(options["--keys"], name), "rb") as f:
                    try:
                        key = serialization.load_pem_public_key(f.read())
                    except ValueError:
                        raise Failed("--keys: %s is not a PEM public key" % name)
                check(isinstance(key, rsa.RSAPublicKey), "--keys: %s is not an RSA public key", name)
                der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                given_keys[int(name[1:-4])] = (key, hashlib.sha256(der).hexdigest())
        check(given_keys, "--keys: %s holds no v<N>.pem key file", options["--keys"])

    # 1. Only the bundle's own files; SHA256SUMS lists each other file once, sorted, with its hash.
    found = set()
    for top in os.scandir(bundle):
        if top.is_dir(follow_symlinks=False):
            check(top.name in ("keys", "proofs"), "%s/ is not part of a MeterProof bundle", top.name)
            for sub in os.scandir(top.path):
                rel = top.name + "/" + sub.name
                check(sub.is_file(follow_symlinks=False), "%s is not a regular file (links are not allowed)", rel)
                if top.name == "keys":
                    check(sub.name == "keyring.json" or (KEY_FILE.fullmatch(sub.name) and int(sub.name[1:-4]) <= INT32_MAX),
                          "%s is not part of a MeterProof bundle", rel)
                else:
                    check(PROOF_FILE.fullmatch(sub.name) and int(sub.name[:-11]) <= INT64_MAX, "%s is not part of a MeterProof bundle", rel)
                found.add(rel)
        else:
            check(top.is_file(follow_symlinks=False), "%s is not a regular file or directory (links are not allowed)", top.name)
            check(top.name in TOP_FILES, "%s is not part of a MeterProof bundle", top.name)
            found.add(top.name)
    found.discard("SHA256SUMS")
    # Streamed, and stopped once it lists more files than the bundle holds: its size is the
    # bundle author's choice (2M lines read whole took about 1 GB).
    listed, previous = {}, None
    check(os.path.getsize(os.path.join(bundle, "SHA256SUMS")) > 0, "SHA256SUMS does not end in a newline")
    with open(os.path.join(bundle, "SHA256SUMS"), "rb") as sums:
        for n, line in enumerate(iter(lambda: sums.readline(8192), b""), 1):
            check(line.endswith(b"\n"), "SHA256SUMS does not end in a newline")
            check(n <= len(found), "SHA256SUMS lists more files than the bundle holds (%d)", len(found))
            line = line[:-1]
            m = SUMS_LINE.fullmatch(line)
            check(m is not None, "SHA256SUMS line %d is not `<64 lowercase hex>  <path>`: %r", n, line)
            check(previous is None or previous < m.group(2), "SHA256SUMS line %d (%r) is not in sorted order or repeats a path", n, m.group(2))
            previous = m.group(2)
            listed[m.group(2).decode("utf-8")] = m.group(1).decode()
    check(found == set(listed), "SHA256SUMS does not list exactly the bundle's files: %s", sorted(found ^ set(listed)))
    for rel in sorted(listed):
        h = hashlib.sha256()
        with open(os.path.join(bundle, rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        check(h.hexdigest() == listed[rel], "%s does not match SHA256SUMS", rel)
    for rel in ("entries.jsonl", "entries.csv", "checkpoint", "log-key.vkey", "manifest.json", "VERIFY.md", "keys/keyring.json"):
        check(rel in found, "the bundle lacks %s", rel)

    # 2. The log key, and the checkpoint signed by it (c2sp.org/signed-note, Ed25519).
    vkey_file = read(bundle, "log-key.vkey", 4096)
    check(len(vkey_file) <= 4096 and vkey_file.endswith(b"\n"), "log-key.vkey does not end in a newline")
    name, key_id, raw_key = parse_vkey(vkey_file[:-1].decode("utf-8"), "log-key.vkey")
    check(vkey_file == ("%s+%s+%s\n" % (name, key_id.hex(), base64.b64encode(b"\x01" + raw_key).decode())).encode(),
          "log-key.vkey is not in canonical form")
    if "--log-key" in options:
        given = options["--log-key"]
        if os.path.isfile(given):
            with open(given) as f:
                given = f.read()
        check(parse_vkey(given.strip(), "--log-key") == (name, key_id, raw_key),
              "the bundle's log-key.vkey (%s) is not the expected log key %s", vkey_file[:-1].decode(), given.strip())
    log_key = Ed25519PublicKey.from_public_bytes(raw_key)
    note = read(bundle, "checkpoint")
    text, sigs, origin, size, root = parse_checkpoint(note)
    signed = False
    for sig_name, sig_id, sig in sigs:
        if sig_name == name and sig_id == key_id:
            try:
                log_key.verify(sig, text)
                signed = True
            except InvalidSignature:
                raise Failed("the checkpoint signature does not verify under the log key")
    check(signed, "the checkpoint carries no signature by the log key")

    # 3. The manifest names this checkpoint; a selection without filters is the full prefix.
    m = strict_json(read(bundle, "manifest.json"), "manifest.json")
    check_manifest(m)
    check((m["origin"], m["treeSize"], b64(m["root"], "manifest.json root", 32)) == (origin, size, root),
          "manifest does not match the checkpoint")
    sel = m["selection"]
    full, outcome, product = sel["fullPrefix"], sel["outcome"], sel["productCode"]
    since = rfc3339_ms(sel["since"]) if sel["since"] is not None else None
    until = rfc3339_ms(sel["until"]) if sel["until"] is not None else None
    check(full or not (since is None and until is None and product is None and outcome == "all"),
          "the selection has no filter, so the bundle must hold every entry below the checkpoint (a full prefix), "
          "but the manifest says it does not")
    proofs_dir = os.path.join(bundle, "proofs")
    proof_files = set(os.listdir(proofs_dir)) if os.path.isdir(proofs_dir) else set()
    check(not (full and proof_files), "a full-prefix bundle carries no proofs")

    # 4. Keys: exactly the v<N>.pem files keyring.json pins, each exactly its PEM SubjectPublicKeyInfo.
    keys, version_of = {}, {}
    for rel in sorted((r for r in found if r.startswith("keys/v")), key=lambda r: int(r[6:-4])):
        pem = read(bundle, rel)
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise Failed("%s is not a PEM public key" % rel)
        check(isinstance(key, rsa.RSAPublicKey), "%s is not an RSA public key", rel)
        check(pem == key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
              "%s is not exactly the key's PEM SubjectPublicKeyInfo", rel)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fp = hashlib.sha256(der).hexdigest()
        check(fp not in version_of, "%s is the same key as keys/v%d.pem (%s): an export bundles each recorded key once", rel, version_of.get(fp, 0), fp)
        version_of[fp] = int(rel[6:-4])
        keys[int(rel[6:-4])] = (key, fp)
    pins = ",".join('\n    {"version": %d, "sha256": "%s", "notBefore": null, "notAfter": null}' % (v, fp) for v, (_, fp) in keys.items())
    check(read(bundle, "keys/keyring.json") == ('{\n  "keys": [%s]\n}\n' % (pins + "\n  " if pins else "")).encode(),
          "keys/keyring.json does not pin exactly the bundled keys (version and SHA-256 of each keys/v<N>.pem)")

    # 5. Entries, streamed: canonical JSON, increasing seq, in the selection and in the tree
    #    (root or proof), the same row in entries.csv, and for accepted ones the key and token.
    stack, last, count, accepted, reasons, first, fingerprints = [], -1, 0, 0, {}, None, set()
    bundled_fps = {fp for (_, fp) in keys.values()}
    nonces, test_key_accepted = {}, 0  # (productCode, nonce) -> the seq that accepted it
    csv = open(os.path.join(bundle, "entries.csv"), "rb")
    check(csv.read(len(CSV_HEADER)) == CSV_HEADER, "entries.csv does not start with the header row (the entry member names, sorted) and CRLF")
    with open(os.path.join(bundle, "entries.jsonl"), "rb") as lines:
        # No entry is over 1 MiB: a longer line is refused as read, not held whole.
        for line in iter(lambda: lines.readline(MAX_ENTRY_BYTES + 2), b""):
            check(len(line) <= MAX_ENTRY_BYTES + 1, "entries.jsonl line %d is longer than any entry", count + 1)
            check(line.endswith(b"\n"), "entries.jsonl does not end in a newline")
            line = line[:-1]
            e = json.loads(line, object_pairs_hook=no_duplicates, parse_constant=no_constant)
            canon = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            check(canon == line, "entry is not canonical JSON: %r", line[:80])
            check(type(e) is dict, "entries.jsonl line %d is not an entry", count + 1)
            check_entry(e, count + 1)
            seq = e["seq"]
            check(last < seq < size, "entry seq %r out of order or beyond the checkpoint", seq)
            check((outcome == "all" or e["outcome"] == outcome) and (product is None or e["productCode"] == product),
                  "entry %d does not match the manifest's selection (outcome, productCode)", seq)
            if since is not None or until is not None:
                t = rfc3339_ms(e["recordedAt"])
                check(t is not None and (since is None or t >= since) and (until is None or t < until),
                      "entry %d (recordedAt %s) does not match the manifest's selection (since, until)", seq, e["recordedAt"])
            last, count = seq, count + 1
            first = seq if first is None else first
            leaf = hashlib.sha256(b"\x00" + line).digest()
            if full:
                check(seq == count - 1, "a full-prefix bundle misses entry %d", count - 1)
                height = 0  # fold into a frontier of perfect subtrees (RFC 6962 root at the end)
                while stack and stack[-1][0] == height:
                    leaf = node(stack.pop()[1], leaf)
                    height += 1
                stack.append((height, leaf))
            else:
                proof = "%d.tlog-proof" % seq
                check(proof in proof_files, "entry %d has no proof", seq)
                head, _, cp = read(bundle, "proofs/" + proof, (1 << 20) + 8192).partition(b"\n\n")
                check(cp == note, "proof %d is not against the bundle's checkpoint", seq)
                plines = head.decode().split("\n")
                check(plines[0] == "c2sp.org/tlog-proof@v1", "proof %d has a bad header", seq)
                if plines[1].startswith("extra "):
                    b64(plines[1][6:], "proof %d extra data" % seq)
                    plines = plines[:1] + plines[2:]
                check(plines[1] == "index %d" % seq and len(plines) <= 66, "proof %d has the wrong index or too many hashes", seq)
                what = "a hash of proof %d" % seq
                verify_inclusion(leaf, seq, size, [b64(h, what, 32) for h in plines[2:]], root)
            row = (",".join(csv_field(e[k]) for k in FIELDS) + "\r\n").encode()
            check(csv.read(len(row)) == row, "entries.csv row of entry %d does not match entries.jsonl", seq)
            # Bounded by what the bundle declares: only bundled keys' fingerprints are kept, and a
            # reason the manifest does not count fails at once (entries cannot fill memory).
            if e["keyFingerprint"] in bundled_fps:
                fingerprints.add(e["keyFingerprint"])
            if e["outcome"] != "accepted":
                check(e["reason"] in m["counts"]["byReason"], "entry %d is rejected with reason %s, which manifest.json does not count",
                      seq, json.dumps(e["reason"][:200]))
                reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
                continue
            accepted += 1
            pair = (e["productCode"], e["nonce"])
            if None not in pair:
                check(pair not in nonces, "entry %d accepts nonce %s for product %s, which entry %s already accepted: "
                      "the trail accepted a nonce twice or was edited", seq, pair[1], pair[0], nonces.get(pair))
                nonces[pair] = seq
            test_key_accepted += e["keyFingerprint"] in TEST_KEY_FINGERPRINTS
            check(e["token"] is not None and e["keyFingerprint"] is not None and e["publicKeyVersion"] is not None,
                  "accepted entry %d records no token, key fingerprint or key version", seq)
            ring, where = (keys, "keys/") if given_keys is None else (given_keys, "the --keys directory ")
            key, fp = ring.get(e["publicKeyVersion"], (None, None))
            check(key is not None, "accepted entry %d was verified by key version %d (%s), which is not in %s",
                  seq, e["publicKeyVersion"], e["keyFingerprint"], where.strip())
            check(fp == e["keyFingerprint"], "accepted entry %d was verified by key %s, but %sv%d.pem is %s",
                  seq, e["keyFingerprint"], where, e["publicKeyVersion"], fp)
            check_token(e, key, hashes, padding, InvalidSignature)
    check(csv.read() == b"", "entries.csv has rows beyond the entries")
    if full:
        check(count == size, "a full-prefix bundle must hold all %d entries", size)
        h = stack.pop()[1] if stack else hashlib.sha256(b"").digest()
        while stack:
            h = node(stack.pop()[1], h)
        check(h == root, "the entries do not hash to the checkpoint root")
    else:
        check(count != size, "the bundle holds every entry below the checkpoint but the manifest does not say full prefix")
        check(len(proof_files) == count, "proofs/ holds proofs without entries")

    # 6. The manifest's counts; every bundled key is one an entry records.
    c = m["counts"]
    check((c["entries"], c["accepted"], c["rejected"], c["byReason"]) == (count, accepted, count - accepted, reasons),
          "manifest counts do not match the entries")
    check((m["firstSeq"], m["lastSeq"]) == ((first, last) if count else (None, None)), "manifest seqs")
    for v, (_, fp) in keys.items():
        check(fp in fingerprints, "keys/v%d.pem (%s) is the key of none of the bundle's entries (no entry records its fingerprint)", v, fp)

    print("OK: %d entries (%d accepted, %d rejected) of log %s, checkpoint size %d; %s; %d tokens re-verified"
          % (count, accepted, count - accepted, origin, size,
             "root recomputed" if full else "%d proofs checked" % count, accepted))
    if test_key_accepted:
        print("WARNING: %d accepted entries were verified under MeterProof's published TEST keys (keys/test): "
              "anyone can sign tokens they accept, so they prove nothing about AWS" % test_key_accepted)
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
