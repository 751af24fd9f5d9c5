#!/usr/bin/env python3
"""Independent PS256 peer for MeterProof's interop tests (Python `cryptography`).

  pss_peer.py check                                   -> prints "ok <cryptography version>"
  pss_peer.py sign --key PRIV.pem --payload JSON [--header JSON] [--salt N]
                                                      -> prints a compact JWS
  pss_peer.py verify --pub PUB.pem --input FILE       -> prints "valid" (exit 0) or "invalid: why" (exit 1)
  pss_peer.py jwk --pub PUB.pem                       -> prints the public key as a JWK (kty RSA, n, e, alg PS256)

`verify` accepts a bare compact token or a RegisterUsage response object
({"Signature": ...}); it checks three segments, header alg == PS256 and the
RSASSA-PSS / SHA-256 / MGF1-SHA-256 / salt 32 signature. Nothing else.
"""
import argparse
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pss(salt: int) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)


def cmd_sign(args) -> int:
    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    header = args.header.encode("utf-8")
    payload = args.payload.encode("utf-8")
    signing_input = (b64url(header) + "." + b64url(payload)).encode("ascii")
    sig = key.sign(signing_input, pss(args.salt), hashes.SHA256())
    print(signing_input.decode("ascii") + "." + b64url(sig))
    return 0


def cmd_verify(args) -> int:
    with open(args.pub, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    with open(args.input, "r", encoding="utf-8") as f:
        text = f.read().strip()
    if text.startswith("{"):
        text = json.loads(text)["Signature"]
    parts = text.split(".")
    if len(parts) != 3:
        print("invalid: not three segments")
        return 1
    try:
        header = json.loads(b64url_decode(parts[0]))
        sig = b64url_decode(parts[2])
    except Exception as e:  # noqa: BLE001 - any decoding problem is a refusal
        print(f"invalid: undecodable: {e}")
        return 1
    if not isinstance(header, dict) or header.get("alg") != "PS256":
        print("invalid: alg is not PS256")
        return 1
    try:
        key.verify(sig, (parts[0] + "." + parts[1]).encode("ascii"), pss(32), hashes.SHA256())
    except InvalidSignature:
        print("invalid: bad signature")
        return 1
    print("valid")
    return 0


def cmd_jwk(args) -> int:
    with open(args.pub, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    nums = key.public_numbers()
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    print(json.dumps({"kty": "RSA", "alg": "PS256", "n": b64url(n), "e": b64url(e)}))
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")
    s = sub.add_parser("sign")
    s.add_argument("--key", required=True)
    s.add_argument("--payload", required=True)
    s.add_argument("--header", default='{"alg":"PS256","typ":"JWT"}')
    s.add_argument("--salt", type=int, default=32)
    v = sub.add_parser("verify")
    v.add_argument("--pub", required=True)
    v.add_argument("--input", required=True)
    j = sub.add_parser("jwk")
    j.add_argument("--pub", required=True)
    args = p.parse_args()
    if args.cmd == "check":
        import cryptography
        print("ok " + cryptography.__version__)
        return 0
    return {"sign": cmd_sign, "verify": cmd_verify, "jwk": cmd_jwk}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
