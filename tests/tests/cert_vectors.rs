//! Every CT hash vector in `tests/data/ct-vectors` (cases A–F of its README), plus the PEM/DER
//! input handling and robustness of `ctguard::cert` on those real certificates.
//!
//! Expected hashes are the values stated by the sources (see the README); expected names,
//! serials and dates were read with `openssl x509 -text`, independently of this code.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ctguard::cert::{self, CertError, CertIdentity};
use ctguard::hash::Sha256Hash;

fn vector_path(name: &str) -> PathBuf {
    ctguard_tests::data_dir().join("ct-vectors").join(name)
}

fn read(name: &str) -> Vec<u8> {
    let path = vector_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The single certificate in a vector file (PEM or DER).
fn identity(name: &str) -> CertIdentity {
    let mut certs = cert::parse_certificates(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(certs.len(), 1, "{name}");
    certs.remove(0)
}

/// The DER of the single certificate in a PEM vector file, decoded by x509-parser.
fn der_of_pem(name: &str) -> Vec<u8> {
    let pem = x509_parser::pem::Pem::iter_from_buffer(&read(name))
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(pem.label, "CERTIFICATE");
    pem.contents
}

/// SHA-256 of the TBS exactly as stored, located by x509-parser (not by our DER walk).
fn raw_tbs_sha256(der: &[u8]) -> Sha256Hash {
    let (_, x509) = x509_parser::parse_x509_certificate(der).unwrap();
    Sha256Hash::digest(x509.tbs_certificate.as_ref())
}

fn h(hex: &str) -> Sha256Hash {
    hex.parse().unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn case_a_real_final_cert_with_sct_list() {
    let id = identity("certspotter_authorize_sslmate_com_final.pem");
    assert_eq!(
        id.tbs_sha256,
        h("3cf6b244c29585dbfbfd420a6a4c62f7968fa905b4d6a4f59d4d3bc9facb0cc8")
    );
    assert_eq!(
        id.pubkey_sha256,
        h("1b1cebcd061ba39746a477db7b90d6871d648bd293ef50e053a6c54c5c3ac112")
    );
    assert_eq!(
        id.cert_sha256,
        h("f097a460de62a07b78081ebbbd19816924875eece5177459085a193f9c02728e")
    );
    // The SCT list really was stripped: the raw TBS hashes differently.
    let der = der_of_pem("certspotter_authorize_sslmate_com_final.pem");
    assert_ne!(raw_tbs_sha256(&der), id.tbs_sha256);
    assert_eq!(cert::tbs_sha256(&der).unwrap(), id.tbs_sha256);

    assert!(!id.is_precert);
    assert_eq!(
        id.dns_names,
        [
            "sslmate.com",
            "*.http-approval.sslmate.com",
            "certs.sslmate.com",
            "console.sslmate.com",
            "www.sslmate.com"
        ]
    );
    assert!(id.ip_addresses.is_empty());
    assert_eq!(id.serial, "db9b93883fe9cf9317c8c84f38455f8e");
    assert_eq!(id.not_before, utc("2025-12-02T00:00:00Z"));
    assert_eq!(id.not_after, utc("2026-11-21T23:59:59Z"));
    assert_eq!(id.subject, "CN=sslmate.com");
    assert!(
        id.issuer
            .contains("CN=Sectigo Public Server Authentication CA DV R36"),
        "{}",
        id.issuer
    );
    assert!(id.issuer.contains("O=Sectigo Limited"), "{}", id.issuer);
}

#[test]
fn case_b_api_cert_der_and_pem_agree() {
    let from_der = identity("hsn723_example_cert_der.der");
    let from_pem = identity("hsn723_example_cert_der.pem");
    assert_eq!(from_der, from_pem);
    assert_eq!(
        from_der.tbs_sha256,
        h("db7c55f74732269c45fda91264003b2a25adc7ff2df687252f60772850449926")
    );
    assert_eq!(
        from_der.cert_sha256,
        h("20cbc0d1e87ed1d71d3b84533667ef60f22fffee634108711376dec87a38d4e2")
    );
    // Same key as case A.
    assert_eq!(
        from_der.pubkey_sha256,
        h("1b1cebcd061ba39746a477db7b90d6871d648bd293ef50e053a6c54c5c3ac112")
    );
    assert_eq!(from_der.serial, "c170fbf3bf27481e5c351a4db6f2dc5f");
    assert_eq!(from_der.not_after, utc("2023-11-21T23:59:59Z"));
    assert_eq!(
        from_der.dns_names,
        [
            "sslmate.com",
            "certs.sandbox.sslmate.com",
            "certs.sslmate.com",
            "sandbox.sslmate.com",
            "www.sslmate.com"
        ]
    );
}

#[test]
fn case_c_legacy_api_cert() {
    let id = identity("ctmonitor_example_com_648494876_cert.der");
    assert_eq!(
        id.tbs_sha256,
        h("b0537995114358761f330303e5b8a0d7c7319a7e458495395e07004911f91c38")
    );
    assert_eq!(
        id.cert_sha256,
        h("9250711c54de546f4370e0c3d3a3ec45bc96092a25a4a71a1afa396af7047eb8")
    );
    assert_eq!(
        id.pubkey_sha256,
        h("8bd1da95272f7fa4ffb24137fc0ed03aae67e5c4d8b3c50734e1050a7920b922")
    );
    // Serial with a leading zero nibble keeps it; the CN is also a SAN, listed once.
    assert_eq!(id.serial, "0fd078dd48f1a2bd4d0f2ba96b6038fe");
    assert_eq!(id.not_before, utc("2018-11-28T00:00:00Z"));
    assert_eq!(id.not_after, utc("2020-12-02T12:00:00Z"));
    assert_eq!(
        id.dns_names,
        [
            "www.example.org",
            "example.com",
            "example.edu",
            "example.net",
            "example.org",
            "www.example.com",
            "www.example.edu",
            "www.example.net"
        ]
    );
    assert!(id.subject.contains("CN=www.example.org"), "{}", id.subject);
}

#[test]
fn case_d_precert_and_final_cert_share_the_tbs_hash() {
    let precert = identity("ctgo_TestPreCertPEM.pem");
    let final_cert = identity("ctgo_TestEmbeddedCertPEM.pem");
    let expected = h("f891a12ef5a416b880296328e399ac1fce0b3d794781d11b62b33375beb3a956");
    assert_eq!(precert.tbs_sha256, expected);
    assert_eq!(final_cert.tbs_sha256, expected);
    assert_eq!(
        precert.cert_sha256,
        h("9f871dde765f39a0cd2c2ba4f13e6b438e211a96cacd8e4910ad621e89a4c844")
    );
    assert_eq!(
        final_cert.cert_sha256,
        h("d9863e419fc90a7faab64952d3d71a389734f82214fb3817cb5c88be81c2f1cb")
    );
    let pubkey = h("086c0ea25b60e3c44a994d0d5f40b81a0d44f21d63df19315e6ddfbe47373817");
    assert_eq!(precert.pubkey_sha256, pubkey);
    assert_eq!(final_cert.pubkey_sha256, pubkey);
    assert!(precert.is_precert);
    assert!(!final_cert.is_precert);
    assert_eq!(precert.serial, "07");
    assert_eq!(precert.not_before, utc("2012-06-01T00:00:00Z"));
    // No SAN, and the subject has no CN: no DNS names at all.
    assert!(precert.dns_names.is_empty());
    // Both differ from their raw TBS hashes (poison, resp. SCT list, removed).
    for name in ["ctgo_TestPreCertPEM.pem", "ctgo_TestEmbeddedCertPEM.pem"] {
        assert_ne!(raw_tbs_sha256(&der_of_pem(name)), expected, "{name}");
    }
}

#[test]
fn case_d_prime_plain_cert_hashes_its_raw_tbs() {
    let der = der_of_pem("ctgo_TestCertPEM.pem");
    let id = CertIdentity::from_der(&der).unwrap();
    assert_eq!(id.tbs_sha256, raw_tbs_sha256(&der));
    assert_eq!(id.cert_sha256, Sha256Hash::digest(&der));
    assert!(!id.is_precert);
    assert_eq!(id.serial, "06");
}

/// Case E documents the known limit of hashing a precert on its own (see `cert::tbs_sha256`).
#[test]
fn case_e_precert_signing_ca_limit() {
    let final_cert = identity("ctcpp_test-embedded-with-preca-cert.pem");
    assert_eq!(
        final_cert.tbs_sha256,
        h("ec0a5bbfd458d15ae617620513d7f6005ae279e205173fb4c7454b13b73e534e")
    );
    let precert = identity("ctcpp_test-embedded-with-preca-pre-cert.pem");
    assert!(precert.is_precert);
    // The naive strip gives the documented value, which is NOT the issuance's TBS hash.
    assert_eq!(
        precert.tbs_sha256,
        h("4346059019b4cb27f4fe5b19cec9e78559c4af95935e404996066feb9f14cc0a")
    );
    assert_ne!(precert.tbs_sha256, final_cert.tbs_sha256);
    // The key is the same, so an inventory keyed on the public key still matches.
    assert_eq!(precert.pubkey_sha256, final_cert.pubkey_sha256);
}

#[test]
fn case_e_files_with_openssl_text_before_the_pem_parse() {
    // The ctcpp files start with `openssl x509 -text` output; the text must be ignored.
    let text = read("ctcpp_ca-pre-cert.pem");
    assert!(text.starts_with(b"Certificate:"));
    let certs = cert::parse_certificates(&text).unwrap();
    assert_eq!(certs.len(), 1);
    assert!(!certs[0].is_precert);
}

fn case_f_tbs(key: &str) -> Vec<u8> {
    let json: serde_json::Value =
        serde_json::from_slice(&read("ctgo_remove_ct_poison_tbs_vectors.json")).unwrap();
    hex::decode(json["tbs_hex"][key].as_str().unwrap()).unwrap()
}

#[test]
fn case_f_poison_first_middle_last_strip_to_the_no_poison_tbs() {
    let no_poison = case_f_tbs("tbsNoPoison");
    assert_eq!(
        Sha256Hash::digest(&no_poison),
        h("5abf27ca6a16badde4eeb569b9755e4d37f000b24a92568af7290cbf67456f67")
    );
    for key in ["tbsPoisonFirst", "tbsPoisonMiddle", "tbsPoisonLast"] {
        let with_poison = case_f_tbs(key);
        assert_ne!(with_poison, no_poison, "{key}");
        assert_eq!(
            cert::reconstruct_tbs(&with_poison).unwrap(),
            no_poison,
            "{key}"
        );
    }
    // Without a poison, reconstruction changes nothing.
    assert_eq!(cert::reconstruct_tbs(&no_poison).unwrap(), no_poison);
}

#[test]
fn case_f_poison_twice_is_an_error() {
    let err = cert::reconstruct_tbs(&case_f_tbs("tbsPoisonTwice")).unwrap_err();
    assert!(
        matches!(err, CertError::DuplicateCtExtension { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("poison"), "{err}");
}

#[test]
fn fullchain_bundle_is_read_leaf_first_and_skips_other_blocks() {
    let leaf = read("certspotter_authorize_sslmate_com_final.pem");
    let ca = read("ctgo_CACertPEM.pem");
    let key = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+5V4n5gHqmN9qPcl4fKZ3Z2LrJ1u5fXd8tJH0yq1b3\n-----END PRIVATE KEY-----\n";
    // CRLF line ends, as a bundle edited on Windows has.
    let ca_crlf = String::from_utf8(ca.clone()).unwrap().replace('\n', "\r\n");
    let bundle = [&leaf[..], key, ca_crlf.as_bytes()].concat();
    let certs = cert::parse_certificates(&bundle).unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(
        certs[0],
        identity("certspotter_authorize_sslmate_com_final.pem")
    );
    assert_eq!(certs[1], identity("ctgo_CACertPEM.pem"));

    // Only a key: a clear error naming what was found.
    let err = cert::parse_certificates(key).unwrap_err();
    assert_eq!(
        err,
        CertError::OnlyOtherPemBlocks {
            labels: vec!["PRIVATE KEY".into()]
        }
    );
}

#[test]
fn broken_pem_is_a_clear_error() {
    let leaf = String::from_utf8(read("certspotter_authorize_sslmate_com_final.pem")).unwrap();
    // Bad base64 in the second block.
    let bad =
        format!("{leaf}-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n");
    let err = cert::parse_certificates(bad.as_bytes()).unwrap_err();
    assert!(
        matches!(err, CertError::InvalidPem { block: 2, .. }),
        "{err}"
    );
    // No END line.
    let cut = &leaf[..leaf.find("-----END").unwrap()];
    let err = cert::parse_certificates(cut.as_bytes()).unwrap_err();
    assert!(
        matches!(err, CertError::InvalidPem { block: 1, .. }),
        "{err}"
    );
    // Valid base64 that is not a certificate.
    let junk = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    let err = cert::parse_certificates(junk.as_bytes()).unwrap_err();
    let CertError::InPemBlock { block: 1, source } = &err else {
        panic!("unexpected {err:?}");
    };
    assert!(matches!(**source, CertError::InvalidDer(_)), "{err}");
    assert!(
        err.to_string().starts_with("PEM block 1: invalid DER"),
        "{err}"
    );
}

#[test]
fn trailing_bytes_after_der_are_rejected() {
    let mut der = read("ctmonitor_example_com_648494876_cert.der");
    der.push(0);
    let err = CertIdentity::from_der(&der).unwrap_err();
    assert!(err.to_string().contains("unexpected bytes after"), "{err}");
    assert!(cert::tbs_sha256(&der).is_err());
}

#[test]
fn every_truncation_of_a_real_cert_is_an_error() {
    let der = read("hsn723_example_cert_der.der");
    for len in 0..der.len() {
        assert!(
            CertIdentity::from_der(&der[..len]).is_err(),
            "prefix of {len} bytes"
        );
        assert!(
            cert::tbs_sha256(&der[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
}

/// Flipping any byte may leave a valid certificate (e.g. inside the signature) but must never
/// panic, and when it parses, the cert hash must follow the bytes.
#[test]
fn corrupting_any_byte_never_panics() {
    let der = read("certspotter_authorize_sslmate_com_final.pem");
    let der = {
        let pem = x509_parser::pem::Pem::iter_from_buffer(&der)
            .next()
            .unwrap()
            .unwrap();
        pem.contents
    };
    let original = CertIdentity::from_der(&der).unwrap();
    for i in 0..der.len() {
        for xor in [0x01, 0x80, 0xff] {
            let mut bad = der.clone();
            bad[i] ^= xor;
            let _ = cert::tbs_sha256(&bad);
            if let Ok(id) = CertIdentity::from_der(&bad) {
                assert_ne!(id.cert_sha256, original.cert_sha256);
            }
        }
    }
}

/// Random bytes, and random bytes behind a PEM header, give errors and never panic.
#[test]
fn random_input_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for len in [0usize, 1, 2, 3, 10, 100, 1000, 5000] {
        for _ in 0..50 {
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let _ = cert::parse_certificates(&bytes);
            if let Some(first) = bytes.first_mut() {
                *first = 0x30; // take the DER path too
            }
            assert!(CertIdentity::from_der(&bytes).is_err());
            let armoured = [
                &b"-----BEGIN CERTIFICATE-----\n"[..],
                &bytes,
                b"\n-----END CERTIFICATE-----\n",
            ]
            .concat();
            assert!(cert::parse_certificates(&armoured).is_err());
        }
    }
}
