//! Public-key checks, pure: which keys are weak (the `weak_key` reason, see [`crate::rules`]).
//!
//! - RSA: a modulus under [`RSA_MIN_BITS`] bits; a public exponent of 1 (no encryption at all)
//!   or even (not a valid RSA exponent); a modulus with the ROCA fingerprint (CVE-2017-15361,
//!   keys made by Infineon's RSALib: see [`roca_fingerprint`]).
//! - EC (`id-ecPublicKey`): a named curve other than P-256, P-384 and P-521 (the only ones the
//!   CA/Browser Forum Baseline Requirements allow), or explicit curve parameters.
//!
//! Other algorithms, and keys that cannot be parsed, get no finding: this looks for known
//! weaknesses, it does not vouch for a key.

use std::fmt;

use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::cert::{CertError, spki_der};

/// RSA moduli shorter than this are weak.
pub const RSA_MIN_BITS: usize = 2048;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// The named curves allowed: P-256, P-384, P-521.
const ALLOWED_CURVES: [(&str, &str); 3] = [
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
];
/// Names of some curves seen in the wild, for the finding's text.
const OTHER_CURVES: [(&str, &str); 5] = [
    ("1.3.132.0.10", "secp256k1"),
    ("1.2.840.10045.3.1.1", "P-192"),
    ("1.3.132.0.33", "P-224"),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1"),
    ("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1"),
];

/// One weakness of a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// An RSA modulus of `bits` bits, under [`RSA_MIN_BITS`].
    RsaTooShort { bits: usize },
    /// The RSA public exponent is 1.
    RsaExponentOne,
    /// The RSA public exponent is even (or zero).
    RsaExponentEven,
    /// The modulus has the ROCA fingerprint (CVE-2017-15361): factorable.
    Roca { bits: usize },
    /// An EC key on a curve other than P-256, P-384 and P-521 (`curve`: its name or OID).
    EcCurve { curve: String },
    /// An EC key with explicit (or missing) curve parameters instead of a named curve.
    EcExplicitParameters,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::RsaTooShort { bits } => {
                write!(f, "RSA key of {bits} bits (under {RSA_MIN_BITS})")
            }
            Weakness::RsaExponentOne => f.write_str("RSA public exponent 1"),
            Weakness::RsaExponentEven => f.write_str("RSA public exponent is even"),
            Weakness::Roca { bits } => write!(
                f,
                "RSA key of {bits} bits with the ROCA fingerprint (CVE-2017-15361, Infineon \
                 RSALib): its private key can be computed"
            ),
            Weakness::EcCurve { curve } => {
                write!(
                    f,
                    "EC key on {curve} (only P-256, P-384, P-521 are allowed)"
                )
            }
            Weakness::EcExplicitParameters => {
                f.write_str("EC key without a named curve (explicit or missing parameters)")
            }
        }
    }
}

/// The weaknesses of a certificate's public key (a precertificate works as well). A
/// certificate whose structure cannot be read is an error; a key that cannot be parsed has no
/// finding.
pub fn cert_key_weaknesses(cert_der: &[u8]) -> Result<Vec<Weakness>, CertError> {
    Ok(spki_weaknesses(spki_der(cert_der)?))
}

/// The weaknesses of a DER SubjectPublicKeyInfo (none if it cannot be parsed).
pub fn spki_weaknesses(spki: &[u8]) -> Vec<Weakness> {
    let Ok((_, info)) = SubjectPublicKeyInfo::from_der(spki) else {
        return Vec::new();
    };
    let algorithm = info.algorithm.algorithm.to_id_string();
    if algorithm == OID_RSA_ENCRYPTION {
        match info.parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa_weaknesses(rsa.modulus, rsa.exponent),
            _ => Vec::new(),
        }
    } else if algorithm == OID_EC_PUBLIC_KEY {
        let curve = info
            .algorithm
            .parameters
            .as_ref()
            // A named curve is an OBJECT IDENTIFIER (`as_oid` also accepts a NULL).
            .filter(|p| p.tag() == x509_parser::asn1_rs::Tag::Oid)
            .and_then(|p| p.as_oid().ok())
            .map(|oid| oid.to_id_string());
        match curve {
            None => vec![Weakness::EcExplicitParameters],
            Some(oid) if ALLOWED_CURVES.iter().any(|(o, _)| *o == oid) => Vec::new(),
            Some(oid) => vec![Weakness::EcCurve {
                curve: OTHER_CURVES
                    .iter()
                    .find(|(o, _)| *o == oid)
                    .map_or(oid.clone(), |(_, name)| (*name).to_owned()),
            }],
        }
    } else {
        Vec::new()
    }
}

/// RSA checks on a big-endian modulus and exponent (leading zero bytes allowed).
pub fn rsa_weaknesses(modulus: &[u8], exponent: &[u8]) -> Vec<Weakness> {
    let mut found = Vec::new();
    let bits = bit_length(modulus);
    if bits < RSA_MIN_BITS {
        found.push(Weakness::RsaTooShort { bits });
    }
    let exponent = strip_zeros(exponent);
    if exponent == [1] {
        found.push(Weakness::RsaExponentOne);
    } else if exponent.last().is_none_or(|last| last & 1 == 0) {
        found.push(Weakness::RsaExponentEven);
    }
    if roca_fingerprint(modulus) {
        found.push(Weakness::Roca { bits });
    }
    found
}

/// Bits of a big-endian unsigned integer.
pub fn bit_length(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    match n.first() {
        None => 0,
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

fn strip_zeros(n: &[u8]) -> &[u8] {
    let start = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    &n[start..]
}

/// The primes of the ROCA fingerprint test: 3 to 167, as in the published detector
/// (`crocs-muni/roca`, `roca/detect.py`, `RocaFingerprinter.primes`; 2 tells nothing for odd
/// moduli).
pub const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// The ROCA fingerprint (Nemec et al., "The Return of Coppersmith's Attack", CCS 2017, §2.3):
/// RSALib primes are `k·M + (65537^a mod M)` with `M` a primorial, so the modulus is a power of
/// 65537 modulo every small prime `r`. The test: for every `r` in [`ROCA_PRIMES`], `N mod r`
/// lies in the subgroup of `Z_r*` generated by 65537. A random modulus passes with
/// probability about 2^-28 (the product of the subgroup densities), an RSALib one always.
/// The published detector stores each subgroup as a bit mask ("prints"); here it is
/// generated, which is the same set (the unit tests compare the first masks).
pub fn roca_fingerprint(modulus: &[u8]) -> bool {
    let modulus = strip_zeros(modulus);
    if modulus.is_empty() {
        return false;
    }
    ROCA_PRIMES.iter().all(|&r| {
        let residue = modulus
            .iter()
            .fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % r);
        in_subgroup_of_65537(residue, r)
    })
}

/// Whether `x` is a power of 65537 modulo the prime `r`.
fn in_subgroup_of_65537(x: u32, r: u32) -> bool {
    let g = 65537 % r;
    let mut power = 1 % r;
    for _ in 0..r {
        if power == x {
            return true;
        }
        power = power * g % r;
        if power == 1 {
            break; // the whole cyclic subgroup was visited
        }
    }
    false
}

/// The subgroup generated by 65537 modulo `r` as the published detector's bit mask (bit `x`
/// set for each member `x`); only for `r < 128`.
#[cfg(test)]
fn subgroup_mask(r: u32) -> u128 {
    (0..r)
        .filter(|&x| in_subgroup_of_65537(x, r))
        .fold(0u128, |mask, x| mask | (1u128 << x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER length octets.
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            128..=255 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(content.len()));
        out.extend_from_slice(content);
        out
    }

    fn integer(be: &[u8]) -> Vec<u8> {
        let mut v = strip_zeros(be).to_vec();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        tlv(0x02, &v)
    }

    /// SubjectPublicKeyInfo { rsaEncryption, NULL } BIT STRING { RSAPublicKey { n, e } }.
    fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
        let algorithm = tlv(
            0x30,
            &[hex("06092a864886f70d010101").as_slice(), &[0x05, 0x00]].concat(),
        );
        let key = tlv(0x30, &[integer(modulus), integer(exponent)].concat());
        let bits = tlv(0x03, &[&[0u8][..], key.as_slice()].concat());
        tlv(0x30, &[algorithm, bits].concat())
    }

    fn ec_spki(curve_oid_tlv: Option<&[u8]>) -> Vec<u8> {
        let mut alg = hex("06072a8648ce3d0201");
        alg.extend(curve_oid_tlv.map_or(vec![0x05, 0x00], <[u8]>::to_vec));
        let point = [vec![0x04], vec![7u8; 64]].concat();
        let bits = tlv(0x03, &[&[0u8][..], point.as_slice()].concat());
        tlv(0x30, &[tlv(0x30, &alg), bits].concat())
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An odd modulus of `bits` bits without the ROCA fingerprint: ≡ 2 mod 11, and 65537 ≡ 10
    /// mod 11 generates only {1, 10}.
    fn plain_modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0x80 | 0x55;
        let last = n.len() - 1;
        for b in 0..=255u8 {
            n[last] = b | 1;
            let r = n.iter().fold(0u32, |a, &x| (a * 256 + u32::from(x)) % 11);
            if r == 2 {
                break;
            }
        }
        n
    }

    #[test]
    fn generated_subgroups_equal_the_published_detectors_masks() {
        // `prints` of crocs-muni/roca detect.py for 3, 5, 7, 11, 13, 17, 19, 23.
        let published: [(u32, u128); 8] = [
            (3, 6),
            (5, 30),
            (7, 126),
            (11, 1026),
            (13, 5658),
            (17, 107286),
            (19, 199410),
            (23, 8388606),
        ];
        for (r, mask) in published {
            assert_eq!(subgroup_mask(r), mask, "prime {r}");
        }
    }

    #[test]
    fn rsa_under_2048_bits_is_weak() {
        let spki = rsa_spki(&plain_modulus(1024), &[1, 0, 1]);
        assert_eq!(
            spki_weaknesses(&spki),
            [Weakness::RsaTooShort { bits: 1024 }]
        );
        assert!(spki_weaknesses(&rsa_spki(&plain_modulus(2048), &[1, 0, 1])).is_empty());
        assert!(spki_weaknesses(&rsa_spki(&plain_modulus(4096), &[3])).is_empty());
    }

    #[test]
    fn rsa_exponent_one_or_even_is_weak() {
        let n = plain_modulus(2048);
        assert_eq!(
            spki_weaknesses(&rsa_spki(&n, &[1])),
            [Weakness::RsaExponentOne]
        );
        for e in [&[2u8][..], &[1u8, 0, 0][..], &[1u8, 0, 2][..]] {
            assert_eq!(
                spki_weaknesses(&rsa_spki(&n, e)),
                [Weakness::RsaExponentEven],
                "{e:?}"
            );
        }
        assert_eq!(rsa_weaknesses(&n, &[0]), [Weakness::RsaExponentEven]);
    }

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x01]), 1);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn roca_fingerprint_is_found_in_powers_of_65537_and_not_elsewhere() {
        // 65537^k itself is ≡ 65537^k mod every prime: the smallest moduli with the fingerprint.
        let mut n: Vec<u8> = vec![1];
        for _ in 0..5 {
            n = mul_small(&n, 65537);
            assert!(roca_fingerprint(&n));
        }
        assert!(!roca_fingerprint(&plain_modulus(2048)));
        assert!(!roca_fingerprint(&[]));
        assert!(!roca_fingerprint(&[0, 0]));
    }

    fn mul_small(n: &[u8], m: u32) -> Vec<u8> {
        let mut out = vec![0u8; n.len() + 4];
        let end = out.len() - 1;
        let mut carry = 0u64;
        for (i, &b) in n.iter().rev().enumerate() {
            let v = u64::from(b) * u64::from(m) + carry;
            out[end - i] = v as u8;
            carry = v >> 8;
        }
        let mut i = out.len() - 1 - n.len();
        while carry > 0 {
            out[i] = carry as u8;
            carry >>= 8;
            i = i.saturating_sub(1);
        }
        strip_zeros(&out).to_vec()
    }

    #[test]
    fn ec_curves_other_than_p256_p384_p521_are_weak() {
        for ok in ["06082a8648ce3d030107", "06052b81040022", "06052b81040023"] {
            assert!(spki_weaknesses(&ec_spki(Some(&hex(ok)))).is_empty(), "{ok}");
        }
        assert_eq!(
            spki_weaknesses(&ec_spki(Some(&hex("06052b8104000a")))),
            [Weakness::EcCurve {
                curve: "secp256k1".to_owned()
            }]
        );
        assert_eq!(
            spki_weaknesses(&ec_spki(Some(&hex("06052b81040021")))),
            [Weakness::EcCurve {
                curve: "P-224".to_owned()
            }]
        );
        assert_eq!(
            spki_weaknesses(&ec_spki(None)),
            [Weakness::EcExplicitParameters]
        );
    }

    /// The certificates of `tests/data/weak-keys` (see its README for how they were made).
    fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/weak-keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn test_certificates_are_judged_as_their_readme_says() {
        let weak = |name: &str| cert_key_weaknesses(&data(name)).unwrap();
        assert_eq!(weak("rsa-1024.der"), [Weakness::RsaTooShort { bits: 1024 }]);
        assert_eq!(weak("rsa-2048-roca.der"), [Weakness::Roca { bits: 2048 }]);
        assert_eq!(
            weak("ec-secp256k1.der"),
            [Weakness::EcCurve {
                curve: "secp256k1".to_owned()
            }]
        );
        for fine in ["rsa-2048.der", "ec-p256.der", "ec-p384.der"] {
            assert!(weak(fine).is_empty(), "{fine}");
        }
        assert!(
            Weakness::Roca { bits: 2048 }
                .to_string()
                .contains("CVE-2017-15361")
        );
    }

    #[test]
    fn garbage_has_no_finding_and_no_panic() {
        assert!(spki_weaknesses(&[]).is_empty());
        assert!(spki_weaknesses(&[0x30, 0x03, 0x02, 0x01]).is_empty());
        assert!(cert_key_weaknesses(&[0x30, 0x00]).is_err());
    }
}
