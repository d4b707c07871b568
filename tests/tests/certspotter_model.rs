//! The issuance model against real Cert Spotter API responses (`tests/data/certspotter-api`).

use ctguard::certspotter::{CertType, Issuance};
use ctguard_tests::data_dir;
use sha2::{Digest, Sha256};

fn sample(name: &str) -> Vec<Issuance> {
    let path = data_dir().join("certspotter-api").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?} does not parse: {e}"))
}

fn vector(name: &str) -> Vec<u8> {
    let path = data_dir().join("ct-vectors").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The modern v1 shape with every expansion: all values land in the typed fields, and the
/// decoded `cert_der` is the real certificate (case B), whose hashes agree with the stated ones.
#[test]
fn modern_sample_parses_with_every_expansion() {
    let page = sample("hsn723_certspotter-client_example.json");
    assert_eq!(page.len(), 1);
    let i = &page[0];
    assert_eq!(i.id, "4326219514");
    assert_eq!(
        i.tbs_sha256.to_hex(),
        "db7c55f74732269c45fda91264003b2a25adc7ff2df687252f60772850449926"
    );
    assert_eq!(
        i.cert_sha256.to_hex(),
        "20cbc0d1e87ed1d71d3b84533667ef60f22fffee634108711376dec87a38d4e2"
    );
    assert_eq!(
        i.pubkey_sha256.to_hex(),
        "1b1cebcd061ba39746a477db7b90d6871d648bd293ef50e053a6c54c5c3ac112"
    );
    assert_eq!(
        i.dns_names,
        [
            "certs.sandbox.sslmate.com",
            "certs.sslmate.com",
            "sandbox.sslmate.com",
            "sslmate.com",
            "www.sslmate.com"
        ]
    );
    assert_eq!(i.not_before.to_rfc3339(), "2022-10-22T00:00:00+00:00");
    assert_eq!(i.not_after.to_rfc3339(), "2023-11-21T23:59:59+00:00");

    let issuer = i.issuer.as_ref().expect("issuer expanded");
    assert_eq!(issuer.friendly_name.as_deref(), Some("Sectigo"));
    assert_eq!(
        issuer.name.as_deref(),
        Some(
            "C=GB, ST=Greater Manchester, L=Salford, O=Sectigo Limited, CN=Sectigo RSA Domain Validation Secure Server CA"
        )
    );
    assert_eq!(
        issuer.pubkey_sha256.map(|h| h.to_hex()).as_deref(),
        Some("e1ae9c3de848ece1ba72e0d991ae4d0d9ec547c6bad1dddab9d6beb0a7e0e0d8")
    );
    assert_eq!(issuer.caa_domains.as_deref().map(<[String]>::len), Some(5));
    assert_eq!(issuer.website.as_deref(), Some("https://sectigo.com/"));
    assert_eq!(
        issuer.operator.as_ref().and_then(|o| o.name.as_deref()),
        Some("Sectigo")
    );

    assert_eq!(i.revoked, Some(false));
    let revocation = i.revocation.as_ref().expect("revocation expanded");
    assert_eq!(revocation.time, None);
    assert_eq!(revocation.reason, None);
    assert_eq!(
        revocation.checked_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2022-12-19T18:47:39+00:00")
    );
    assert!(
        i.problem_reporting
            .as_deref()
            .is_some_and(|p| p.starts_with("To revoke one or more certificates issued by Sectigo"))
    );

    let der = i.cert_der.as_deref().expect("cert_der expanded");
    assert_eq!(sha256_hex(der), i.cert_sha256.to_hex());
    assert_eq!(der, vector("hsn723_example_cert_der.der"));
    // The public key hash is SHA-256 of the certificate's SubjectPublicKeyInfo.
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("DER certificate");
    assert_eq!(sha256_hex(cert.public_key().raw), i.pubkey_sha256.to_hex());
    assert_eq!(i.cert_type, None, "the modern shape does not say");
}

/// The legacy shape: `cert {type, sha256, data}` and `-00:00` offsets (case C).
#[test]
fn legacy_sample_maps_the_cert_object() {
    let page = sample("hsn723_ct-monitor_mockupstream_example.com.json");
    assert_eq!(page.len(), 1);
    let i = &page[0];
    assert_eq!(i.id, "648494876");
    assert_eq!(
        i.tbs_sha256.to_hex(),
        "b0537995114358761f330303e5b8a0d7c7319a7e458495395e07004911f91c38"
    );
    assert_eq!(
        i.cert_sha256.to_hex(),
        "9250711c54de546f4370e0c3d3a3ec45bc96092a25a4a71a1afa396af7047eb8"
    );
    assert_eq!(
        i.pubkey_sha256.to_hex(),
        "8bd1da95272f7fa4ffb24137fc0ed03aae67e5c4d8b3c50734e1050a7920b922"
    );
    assert_eq!(i.dns_names.len(), 8);
    assert!(i.dns_names.iter().any(|n| n == "www.example.org"));
    assert_eq!(i.not_before.to_rfc3339(), "2018-11-28T00:00:00+00:00");
    assert_eq!(i.not_after.to_rfc3339(), "2020-12-02T12:00:00+00:00");
    assert_eq!(i.cert_type, Some(CertType::Cert));
    assert_eq!(
        i.issuer.as_ref().and_then(|x| x.name.as_deref()),
        Some("C=US, O=DigiCert Inc, CN=DigiCert SHA2 Secure Server CA")
    );
    assert_eq!(i.revocation, None);

    let der = i.cert_der.as_deref().expect("cert.data decoded");
    assert_eq!(der, vector("ctmonitor_example_com_648494876_cert.der"));
    assert_eq!(sha256_hex(der), i.cert_sha256.to_hex());
}

/// A page with one bad issuance is rejected as a whole: the client never returns part of a page.
#[test]
fn one_bad_issuance_rejects_the_page() {
    let path = data_dir().join("certspotter-api/hsn723_certspotter-client_example.json");
    let mut page: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
    let mut bad = page[0].clone();
    bad["id"] = "4326219515".into();
    bad["tbs_sha256"] = "not a hash".into();
    page.as_array_mut().expect("array").push(bad);
    assert!(serde_json::from_value::<Vec<Issuance>>(page).is_err());
}
