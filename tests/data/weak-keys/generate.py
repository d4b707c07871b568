#!/usr/bin/env python3
"""Generates the weak-key test certificates in this directory (see README.md).

Needs Python 3 with `cryptography` (any recent version). Run it from anywhere:
`python3 tests/data/weak-keys/generate.py`. Every run makes new keys; the tests only depend
on the properties listed in README.md, not on the exact bytes.
"""

import datetime
import os
import random
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
E = 65537


def primes_up_to(n):
    sieve = [True] * (n + 1)
    sieve[0] = sieve[1] = False
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = [False] * len(sieve[i * i :: i])
    return [i for i, p in enumerate(sieve) if p]


def is_probable_prime(n, rounds=40):
    if n < 2:
        return False
    for p in primes_up_to(1000):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = random.randrange(2, n - 1)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_prime(bits, m):
    """A prime with the structure of the Infineon RSALib keys (ROCA, Nemec et al., CCS 2017,
    section 2.1): p = k * M + (65537^a mod M), M the primorial used for 2048-bit keys (the
    product of the first 126 primes, up to 701)."""
    while True:
        a = secrets.randbelow(m)
        k_bits = bits - m.bit_length()
        k = secrets.randbits(k_bits) | (1 << (k_bits - 1))
        p = k * m + pow(E, a, m)
        if p.bit_length() == bits and is_probable_prime(p):
            return p


def roca_key():
    m = 1
    for p in primes_up_to(701):
        m *= p
    while True:
        p, q = roca_prime(1024, m), roca_prime(1024, m)
        if p == q or (p * q).bit_length() != 2048:
            continue
        phi = (p - 1) * (q - 1)
        try:
            d = pow(E, -1, phi)
        except ValueError:
            continue
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=d % (p - 1),
            dmq1=d % (q - 1),
            iqmp=pow(q, -1, p),
            public_numbers=rsa.RSAPublicNumbers(E, p * q),
        )
        return numbers.private_key()


def cert(subject_key, name, ca_key):
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ctguard weak-key test CA")])
        )
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def main():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    keys = {
        "rsa-1024": ("rsa1024.weak.example", rsa.generate_private_key(E, 1024)),
        "rsa-2048": ("rsa2048.weak.example", rsa.generate_private_key(E, 2048)),
        "rsa-2048-roca": ("roca.weak.example", roca_key()),
        "ec-p256": ("p256.weak.example", ec.generate_private_key(ec.SECP256R1())),
        "ec-p384": ("p384.weak.example", ec.generate_private_key(ec.SECP384R1())),
        "ec-secp256k1": ("k256.weak.example", ec.generate_private_key(ec.SECP256K1())),
    }
    for stem, (name, key) in keys.items():
        with open(os.path.join(HERE, f"{stem}.der"), "wb") as f:
            f.write(cert(key, name, ca_key))


if __name__ == "__main__":
    main()
