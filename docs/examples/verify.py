#!/usr/bin/env python3
"""Verifies a PostStack webhook (X-PostStack-Signature). Standard library only.

usage: verify.py [SECRET SIGNATURE [TOLERANCE]] < raw-body
SECRET and SIGNATURE default to $POSTSTACK_SECRET and $POSTSTACK_SIGNATURE.
Prints "valid" and exits 0, or prints the reason and exits 1; 2 = usage.
"""
import hashlib
import hmac
import os
import re
import sys
import time


class VerificationError(Exception):
    """The request is not a valid PostStack webhook; str(e) says why."""


def verify(secret, signature_header, raw_body, tolerance=300):
    """Raises VerificationError unless signature_header signs raw_body (bytes,
    exactly as received) with secret (the whole "whsec_..." string) and its
    timestamp is within tolerance seconds of now."""
    t, v1s = None, []
    for item in signature_header.split(","):
        key, eq, value = item.partition("=")
        if not key or not eq:
            raise VerificationError("bad signature header format")
        if key == "t":
            if t is not None or not re.fullmatch(r"[0-9]{1,12}", value):
                raise VerificationError("bad signature header format")
            t = value
        elif key == "v1":
            if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
                raise VerificationError("bad signature header format")
            v1s.append(bytes.fromhex(value))
        # Other schemes (v0=, v2=...) are skipped: new ones may be added.
    if t is None or not v1s:
        raise VerificationError("bad signature header format")

    now = int(time.time())
    if now - int(t) > tolerance:
        raise VerificationError("timestamp too old")
    if int(t) - now > tolerance:
        raise VerificationError("timestamp in the future")

    expected = hmac.new(secret.encode("utf-8"), t.encode("ascii") + b"." + raw_body,
                        hashlib.sha256).digest()
    # Compare every v1 (one per valid secret during a rotation) in constant time.
    matched = False
    for v1 in v1s:
        matched |= hmac.compare_digest(v1, expected)
    if not matched:
        raise VerificationError("no matching signature")


def main(argv):
    secret = argv[1] if len(argv) > 1 else os.environ.get("POSTSTACK_SECRET")
    header = argv[2] if len(argv) > 2 else os.environ.get("POSTSTACK_SIGNATURE")
    tolerance = argv[3] if len(argv) > 3 else "300"
    if secret is None or header is None or len(argv) > 4 or not tolerance.isascii() \
            or not tolerance.isdigit():
        print("usage: verify.py [SECRET SIGNATURE [TOLERANCE]] < raw-body", file=sys.stderr)
        return 2
    try:
        verify(secret, header, sys.stdin.buffer.read(), int(tolerance))
    except VerificationError as e:
        print(e)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
