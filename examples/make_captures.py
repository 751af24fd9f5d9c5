#!/usr/bin/env python3
"""Regenerates examples/captures.jsonl: sample RegisterUsage captures signed with the TEST keys.

Mostly good captures, plus forged, replayed, foreign-product, stale, future, malformed and
unbound ones, so `meterproof audit import` has something real to report. Deterministic apart
from RSA-PSS salts (the file is committed; rerun only to change it).
Usage: python3 examples/make_captures.py > examples/captures.jsonl
"""
import base64, json, os, random, sys, datetime
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
keys = {v: serialization.load_pem_private_key(open(f"{root}/keys/test/private/v{v}.key.pem", "rb").read(), None) for v in (1, 2)}
rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rng = random.Random(20261127)

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(payload, version, key=None, header=b'{"alg":"PS256","typ":"JWT"}'):
    si = b64(header) + "." + b64(json.dumps(payload, separators=(",", ":")).encode())
    k = key or keys[version]
    sig = k.sign(si.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    return si + "." + b64(sig)

def nonce(): return "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(n) for n in (32, 16, 16, 16, 48))
def ts(t): return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"

base = 1793577600  # 2026-11-02T00:00:00Z
products = ["prod-alpha", "prod-beta", "prod-gamma"]
lines, good = [], []

def capture(pc, v, n, iat, captured, token, rotation=None, pascal_req=False, req_pc=None, req_n=None):
    req = {"ProductCode": req_pc or pc, "PublicKeyVersion": v, "Nonce": req_n or n} if pascal_req else \
          {"productCode": req_pc or pc, "publicKeyVersion": v, "nonce": req_n or n}
    return {"request": req, "response": {"Signature": token, "PublicKeyRotationTimestamp": rotation}, "capturedAt": ts(captured)}

def payload(pc, v, n, iat, pascal=False):
    if pascal: return {"ProductCode": pc, "PublicKeyVersion": v, "Nonce": n, "iat": iat}
    return {"productCode": pc, "publicKeyVersion": v, "nonce": n, "iat": iat}

for i in range(240):
    pc, v, n = rng.choice(products), rng.choice((1, 1, 2)), nonce()
    t = base + i * 5400 + rng.randrange(600)
    iat = t - rng.randrange(1, 5)
    token = sign(payload(pc, v, n, iat, pascal=(i % 10 == 0)), v)
    c = capture(pc, v, n, iat, t, token, pascal_req=(i % 7 == 0))
    lines.append(c); good.append(c)

extra = []
for i in range(8):  # forged: signed by a key outside the keyring, or altered after signing
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    tok = sign(payload(pc, 1, n, t - 2), 1, key=rogue if i % 2 == 0 else None)
    if i % 2 == 1:
        h, p, s = tok.split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=="))
        claims["productCode"] = "prod-alpha-enterprise"
        tok = h + "." + b64(json.dumps(claims, separators=(",", ":")).encode()) + "." + s
        pc = "prod-alpha-enterprise"
    extra.append(capture(pc, 1, n, t - 2, t, tok))
for c in rng.sample(good, 6):  # replayed: the same response captured again five minutes later
    r = json.loads(json.dumps(c)); r["capturedAt"] = ts(datetime.datetime.fromisoformat(c["capturedAt"].replace("Z", "+00:00")).timestamp() + 300)
    extra.append(r)
for i in range(6):  # foreign product: a valid response for another product
    n, t = nonce(), base + rng.randrange(20 * 86400)
    extra.append(capture("prod-beta", 1, n, t - 1, t, sign(payload("prod-competitor", 1, n, t - 1), 1), req_pc="prod-beta"))
for i in range(6):  # stale: issued two hours before capture
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    extra.append(capture(pc, 2, n, t - 7200, t, sign(payload(pc, 2, n, t - 7200), 2)))
for i in range(2):  # from the future
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    extra.append(capture(pc, 1, n, t + 900, t, sign(payload(pc, 1, n, t + 900), 1)))
for i in range(2):  # wrong nonce
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    extra.append(capture(pc, 1, n, t - 1, t, sign(payload(pc, 1, n, t - 1), 1), req_n=nonce()))
for i in range(2):  # alg none
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    tok = b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(payload(pc, 1, n, t - 1)).encode()) + "."
    extra.append(capture(pc, 1, n, t - 1, t, tok))
for i in range(3):  # rotation announced: accepted with a warning
    pc, n, t = rng.choice(products), nonce(), base + rng.randrange(20 * 86400)
    extra.append(capture(pc, 1, n, t - 1, t, sign(payload(pc, 1, n, t - 1), 1), rotation=t + 30 * 86400))
unbound = []
for i in range(12):  # unbound: bare responses and tokens (no request known)
    pc, v, n, t = rng.choice(products), 1, nonce(), base + rng.randrange(20 * 86400)
    tok = sign(payload(pc, v, n, t - 1), v)
    unbound.append([{"Signature": tok, "PublicKeyRotationTimestamp": None}, tok, "PLAIN:" + tok][i % 3])
malformed = [
    "this is not json",
    '{"request": {"productCode": "prod-alpha", "publicKeyVersion": 1}, "capturedAt": "2026-11-03T10:00:00Z"}',
    '[1, 2, 3]',
    '{"request": {"productCode": "prod-alpha", "publicKeyVersion": 1, "nonce": "x"}, "response": {"Signature": "a.b.c"}, "capturedAt": "yesterday"}',
    '{"request": {"productCode": "prod-alpha", "productCode": "prod-beta", "publicKeyVersion": 1}, "response": {}}',
    '{"request": {"productCode": "prod-alpha", "publicKeyVersion": 1, "nonce": "x"}, "response": {"Signature": "eyJhbGciOiJQUzI1NiJ9.e30"}}',
    '{"Signature": 42}',
    '{"request": ',
]
mixed = extra + unbound + malformed
rng.shuffle(mixed)
out = []
for i, c in enumerate(lines):
    out.append(c)
    if i % 8 == 7 and mixed: out.append(mixed.pop())
out += mixed
for i, c in enumerate(out):
    if isinstance(c, str) and c.startswith("PLAIN:"): print(c[6:])
    elif isinstance(c, str) and c not in malformed: print(json.dumps(c))
    elif isinstance(c, str): print(c)
    else: print(json.dumps(c, separators=(",", ":")))
    if i in (50, 150): print()
