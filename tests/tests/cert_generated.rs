//! Generated certificates (tests crate factory, rcgen) against `ctguard::cert`.
//!
//! The expected TBS hash never comes from our stripping code: it is the raw TBS (as located by
//! x509-parser) of a second certificate issued from the identical spec with the CT extension
//! left out, or that TBS re-wrapped by the test-side `der_tlv` when only the empty extensions
//! block must be added.

use ctguard::cert::{self, CertIdentity};
use ctguard::hash::Sha256Hash;
use ctguard_tests::certs::{CtPosition, LeafSpec, TestCa, TestCert, der_tlv};

/// The TBSCertificate bytes exactly as issued, located by x509-parser.
fn raw_tbs(der: &[u8]) -> Vec<u8> {
    let (_, x509) = x509_parser::parse_x509_certificate(der).expect("x509-parser reads it");
    x509.tbs_certificate.as_ref().to_vec()
}

/// A spec with key, serial and time pinned, so it can be issued again with other CT flags.
fn pinned(ca: &TestCa, names: &[&str]) -> LeafSpec {
    let template = ca.issue(&LeafSpec::for_names(names.iter().copied()));
    LeafSpec {
        key_pem: Some(template.key_pem),
        serial: Some(vec![0x42, 0x01, 0x02, 0x03]),
        issued_at: Some("2025-06-01T12:00:00Z".parse().unwrap()),
        ..LeafSpec::for_names(names.iter().copied())
    }
}

fn without_ct(spec: &LeafSpec) -> LeafSpec {
    LeafSpec {
        precert_poison: false,
        sct_list: false,
        ..spec.clone()
    }
}

/// The extension OIDs in order, read with x509-parser, to prove the factory put the CT ones
/// where asked.
fn extension_oids(der: &[u8]) -> Vec<String> {
    let (_, x509) = x509_parser::parse_x509_certificate(der).unwrap();
    x509.extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .collect()
}

const POISON: &str = "1.3.6.1.4.1.11129.2.4.3";
const SCT: &str = "1.3.6.1.4.1.11129.2.4.2";

#[test]
fn ct_extensions_first_middle_last_strip_to_the_cert_without_them() {
    let ca = TestCa::new("ctguard generated CA");
    let base = pinned(&ca, &["www.example.com", "example.com"]);
    let reference = ca.issue(&without_ct(&base));
    let expected = Sha256Hash::digest(&raw_tbs(&reference.der));
    assert_eq!(cert::tbs_sha256(&reference.der).unwrap(), expected);

    for position in [CtPosition::First, CtPosition::Middle, CtPosition::Last] {
        for (poison, sct) in [(true, false), (false, true), (true, true)] {
            let spec = LeafSpec {
                precert_poison: poison,
                sct_list: sct,
                ct_position: position,
                ..base.clone()
            };
            let issued = ca.issue(&spec);
            let oids = extension_oids(&issued.der);
            let ct_index = oids.iter().position(|o| o == POISON || o == SCT).unwrap();
            let expected_index = match position {
                CtPosition::First => 0,
                CtPosition::Middle => 1,
                CtPosition::Last => oids.len() - usize::from(poison) - usize::from(sct),
            };
            let case = format!("{position:?} poison={poison} sct={sct} oids={oids:?}");
            assert_eq!(ct_index, expected_index, "{case}");
            // The extension is really there, and really removed by the hash.
            assert_ne!(
                Sha256Hash::digest(&raw_tbs(&issued.der)),
                expected,
                "{case}"
            );
            let id = CertIdentity::from_der(&issued.der).unwrap();
            assert_eq!(id.tbs_sha256, expected, "{case}");
            assert_eq!(id.is_precert, poison, "{case}");
            assert_eq!(id.has_sct_list, sct, "{case}");
            assert_eq!(
                cert::reconstruct_tbs(&raw_tbs(&issued.der)).unwrap(),
                raw_tbs(&reference.der),
                "{case}"
            );
        }
    }
}

#[test]
fn a_ct_extension_alone_strips_to_an_empty_extensions_block() {
    let ca = TestCa::new("ctguard generated CA");
    let base = LeafSpec {
        no_other_extensions: true,
        ..pinned(&ca, &["alone.example.com"])
    };
    // Without any extension rcgen writes no [3] block at all.
    let reference = raw_tbs(&ca.issue(&without_ct(&base)).der);
    assert!(extension_oids(&ca.issue(&without_ct(&base)).der).is_empty());
    // Expected: the same TBS plus `a3 02 30 00`, re-wrapped by the test-side encoder.
    let reference_content = &der_contents(&reference);
    let expected_tbs = der_tlv(
        0x30,
        &[reference_content, &[0xa3, 0x02, 0x30, 0x00][..]].concat(),
    );

    for (poison, sct) in [(true, false), (false, true), (true, true)] {
        let issued = ca.issue(&LeafSpec {
            precert_poison: poison,
            sct_list: sct,
            ..base.clone()
        });
        let case = format!("poison={poison} sct={sct}");
        assert_eq!(
            cert::reconstruct_tbs(&raw_tbs(&issued.der)).unwrap(),
            expected_tbs,
            "{case}"
        );
        let id = CertIdentity::from_der(&issued.der).unwrap();
        assert_eq!(id.tbs_sha256, Sha256Hash::digest(&expected_tbs), "{case}");
        assert_ne!(id.tbs_sha256, Sha256Hash::digest(&reference), "{case}");
        // No SAN: the name comes from the subject CN.
        assert_eq!(id.dns_names, ["alone.example.com"]);
    }
}

/// The contents of a DER element, read with the test-side rule (not `ctguard::der`).
fn der_contents(element: &[u8]) -> &[u8] {
    let header = match element[1] {
        n if n < 0x80 => 2,
        n => 2 + usize::from(n & 0x7f),
    };
    &element[header..]
}

/// Hundreds of SANs push the TBS over 64 KiB; the spec is tuned so that the poisoned TBS needs
/// a 3-byte length and the stripped one a 2-byte length, so re-encoding must shrink the header.
#[test]
fn tbs_over_64_kib_with_length_form_change() {
    let ca = TestCa::new("ctguard generated CA");
    let mut names: Vec<String> = (0..900)
        .map(|i| format!("host-{i:04}.a-long-label-to-make-the-tbs-large.example.com"))
        .collect();
    names.push("pad.example.com".into());
    let key = ca.issue(&LeafSpec::default()).key_pem;
    let spec_for = |names: &[String]| LeafSpec {
        dns_names: names.to_vec(),
        key_pem: Some(key.clone()),
        serial: Some(vec![0x11; 16]),
        issued_at: Some("2025-06-01T12:00:00Z".parse().unwrap()),
        ..LeafSpec::default()
    };

    // Tune the pad name so the reference TBS content is 65_530 bytes: < 65_536 without the
    // poison (21 bytes), >= 65_536 with it.
    let measure = |names: &[String]| der_contents(&raw_tbs(&ca.issue(&spec_for(names)).der)).len();
    let target = 65_530;
    // The pad name's own length header may grow as it does: converge in a few steps.
    for _ in 0..4 {
        let measured = measure(&names) as i64;
        if measured == target {
            break;
        }
        let pad_len = names.last().unwrap().len() as i64 + target - measured;
        assert!(
            pad_len > 12,
            "900 names should land below the target, got {measured}"
        );
        names.pop();
        names.push(dns_name_of_length(pad_len as usize));
    }
    assert_eq!(measure(&names) as i64, target);

    let reference = ca.issue(&spec_for(&names));
    let poisoned = ca.issue(&LeafSpec {
        precert_poison: true,
        ..spec_for(&names)
    });
    let reference_tbs = raw_tbs(&reference.der);
    let poisoned_tbs = raw_tbs(&poisoned.der);
    assert_eq!(reference_tbs[1], 0x82, "2-byte length without the poison");
    assert_eq!(poisoned_tbs[1], 0x83, "3-byte length with it");

    let id = CertIdentity::from_der(&poisoned.der).unwrap();
    assert_eq!(id.tbs_sha256, Sha256Hash::digest(&reference_tbs));
    assert_eq!(cert::reconstruct_tbs(&poisoned_tbs).unwrap(), reference_tbs);
    assert_eq!(id.dns_names.len(), 901);
    assert!(id.is_precert);

    // Well above 64 KiB both ways, with the SCT list in the middle.
    let mut many = names.clone();
    many.extend((0..300).map(|i| format!("more-{i}.example.net")));
    let big_final = ca.issue(&LeafSpec {
        sct_list: true,
        ct_position: CtPosition::Middle,
        ..spec_for(&many)
    });
    let big_reference = ca.issue(&spec_for(&many));
    assert!(raw_tbs(&big_final.der).len() > 70_000);
    assert_eq!(
        cert::tbs_sha256(&big_final.der).unwrap(),
        Sha256Hash::digest(&raw_tbs(&big_reference.der))
    );
}

/// A syntactically plausible DNS name of exactly `len` bytes (labels of at most 63).
fn dns_name_of_length(len: usize) -> String {
    let suffix = ".example.com";
    let mut body = String::new();
    while body.len() < len - suffix.len() {
        if !body.is_empty() && body.len() % 61 == 60 {
            body.push('.');
        } else {
            body.push('p');
        }
    }
    let name = format!("{body}{suffix}");
    assert_eq!(name.len(), len);
    name
}

#[test]
fn precert_and_final_cert_from_the_factory_share_the_tbs_hash() {
    let ca = TestCa::new("ctguard generated CA");
    let (precert, final_cert) = ca.issue_pair(&LeafSpec::for_names(["pair.example.com"]));
    let pre = CertIdentity::from_der(&precert.der).unwrap();
    let fin = CertIdentity::from_der(&final_cert.der).unwrap();
    assert_eq!(pre.tbs_sha256, fin.tbs_sha256);
    assert_ne!(pre.cert_sha256, fin.cert_sha256);
    assert_eq!(pre.pubkey_sha256, fin.pubkey_sha256);
    assert_eq!(pre.serial, fin.serial);
    assert!(pre.is_precert);
    assert!(!fin.is_precert);
    assert_eq!(
        extension_oids(&precert.der).last().map(String::as_str),
        Some(POISON)
    );
    assert_eq!(
        extension_oids(&final_cert.der).last().map(String::as_str),
        Some(SCT)
    );
}

#[test]
fn without_ct_extensions_the_hash_is_of_the_raw_tbs() {
    let ca = TestCa::new("ctguard generated CA");
    let plain = ca.issue(&LeafSpec::for_names(["plain.example.com"]));
    let id = CertIdentity::from_der(&plain.der).unwrap();
    assert_eq!(id.tbs_sha256, Sha256Hash::digest(&raw_tbs(&plain.der)));
    assert_eq!(id.cert_sha256, Sha256Hash::digest(&plain.der));
    let (_, x509) = x509_parser::parse_x509_certificate(&plain.der).unwrap();
    assert_eq!(id.pubkey_sha256, Sha256Hash::digest(x509.public_key().raw));
}

#[test]
fn reused_key_gives_the_same_pubkey_hash() {
    let ca = TestCa::new("ctguard generated CA");
    let first = ca.issue(&LeafSpec::for_names(["a.example.com"]));
    let renewed = ca.issue(&LeafSpec {
        key_pem: Some(first.key_pem.clone()),
        ..LeafSpec::for_names(["a.example.com"])
    });
    let other = ca.issue(&LeafSpec::for_names(["a.example.com"]));
    let [first, renewed, other] =
        [&first, &renewed, &other].map(|c| CertIdentity::from_der(&c.der).unwrap());
    assert_eq!(first.pubkey_sha256, renewed.pubkey_sha256);
    assert_ne!(first.tbs_sha256, renewed.tbs_sha256, "different serials");
    assert_ne!(first.pubkey_sha256, other.pubkey_sha256);
}

#[test]
fn factory_output_reads_back_as_specified() {
    let ca = TestCa::new("ctguard generated CA");
    let issued_at: chrono::DateTime<chrono::Utc> = "2025-03-04T05:06:07Z".parse().unwrap();
    let leaf: TestCert = ca.issue(&LeafSpec {
        valid_days: Some((-10, 30)),
        issued_at: Some(issued_at),
        serial: Some(vec![0x00, 0xab, 0xcd]),
        ..LeafSpec::for_names([
            "WWW.Example.COM",
            "www.example.com",
            "xn--bcher-kva.example",
            "*.example.org",
        ])
    });
    // fullchain.pem: leaf first, then the CA.
    let chain = cert::parse_certificates(leaf.fullchain_pem.as_bytes()).unwrap();
    assert_eq!(chain.len(), 2);
    let id = &chain[0];
    assert_eq!(
        *id,
        cert::parse_certificates(leaf.pem.as_bytes()).unwrap()[0]
    );
    assert_eq!(chain[1], CertIdentity::from_der(&ca.der()).unwrap());
    assert_eq!(
        id.dns_names,
        ["www.example.com", "xn--bcher-kva.example", "*.example.org"]
    );
    assert_eq!(id.not_before, issued_at - chrono::Duration::days(10));
    assert_eq!(id.not_after, issued_at + chrono::Duration::days(30));
    assert_eq!(id.serial, "abcd");
    assert_eq!(id.issuer, "CN=ctguard generated CA");
    assert_eq!(id.subject, "CN=WWW.Example.COM");
    assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    // The key block in a bundle is skipped, not read as a certificate.
    let with_key = format!("{}{}", leaf.key_pem, leaf.fullchain_pem);
    assert_eq!(
        cert::parse_certificates(with_key.as_bytes()).unwrap(),
        chain
    );
}
