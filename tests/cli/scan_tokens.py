#!/usr/bin/env python3
"""Prints N tokens in tokenadm's format with valid check characters (no
database needed): scan tests use them as real tokens. Usage: scan_tokens.py N [PREFIX]"""
import random
import sys
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def check(body):
    v = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = ALPHABET[v % 62] + out
        v //= 62
    return out


def token(prefix):
    r = random.SystemRandom()
    body = prefix + "_" + "".join(r.choice(ALPHABET) for _ in range(10)) + "_" + \
        "".join(r.choice(ALPHABET) for _ in range(32))
    return body + check(body)


if __name__ == "__main__":
    n = int(sys.argv[1])
    prefix = sys.argv[2] if len(sys.argv) > 2 else "tka"
    for _ in range(n):
        print(token(prefix))
