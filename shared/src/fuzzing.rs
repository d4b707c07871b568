//! Fuzz harnesses: one function per parser of untrusted bytes. The cargo-fuzz targets in
//! `fuzz/` call exactly these, and `tests/fuzz_regressions.rs` replays the seed and regression
//! corpora through them on stable, so the two cannot drift.
//!
//! A harness must return normally for every input: parsers answer hostile bytes with a typed
//! error, never a panic. Beyond "no panic", each checks properties that must hold for any input
//! (a panic here is a finding, like a crash in the parser itself).

use crate::cert::{self, CertIdentity};
use crate::certspotter::{Issuance, parse_page};
use crate::der::{self, tag};
use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::matcher::WatchIndex;
use crate::store::page_token;

/// Error messages are shown to API callers and logged: hostile input must not make them big.
const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

fn check_message(error: &impl std::fmt::Display) {
    let message = error.to_string();
    assert!(
        message.len() <= MAX_ERROR_MESSAGE_BYTES,
        "error message of {} bytes",
        message.len()
    );
}

/// PEM bundles, single PEM and DER certificates, as the API receives them (`POST /certs`).
pub fn cert_parse(data: &[u8]) {
    match cert::parse_certificates(data) {
        Ok(certs) => {
            assert!(!certs.is_empty(), "Ok with no certificate");
            // Bare DER: the whole (trimmed) input is the one certificate, so its hashes are known.
            let trimmed = data.trim_ascii_start();
            if certs.len() == 1 && trimmed.first() == Some(&tag::SEQUENCE) {
                let id = &certs[0];
                assert_eq!(id.cert_sha256, Sha256Hash::digest(trimmed));
                assert_eq!(cert::tbs_sha256(trimmed).ok(), Some(id.tbs_sha256));
            }
        }
        Err(e) => check_message(&e),
    }
    // The DER path on its own, also for inputs that look like PEM.
    if let Ok(id) = CertIdentity::from_der(data) {
        assert_eq!(id.cert_sha256, Sha256Hash::digest(data));
        assert_eq!(cert::tbs_sha256(data).ok(), Some(id.tbs_sha256));
    }
}

/// TBS reconstruction (dropping the SCT-list and poison extensions) and the TBS hash.
pub fn tbs_rebuild(data: &[u8]) {
    match cert::reconstruct_tbs(data) {
        Ok(rebuilt) => {
            // The output is one DER TBSCertificate with nothing left to strip.
            assert!(der::read_single(&rebuilt, tag::SEQUENCE, "rebuilt TBS").is_ok());
            assert_eq!(
                cert::reconstruct_tbs(&rebuilt).as_deref().ok(),
                Some(rebuilt.as_slice()),
                "reconstruction is not idempotent"
            );
            assert!(rebuilt.len() <= data.len(), "reconstruction grew the TBS");
        }
        Err(e) => check_message(&e),
    }
    // The same bytes read as a whole certificate.
    if let Err(e) = cert::tbs_sha256(data) {
        check_message(&e);
    }
}

/// Watch-list entries and certificate names: the first line is parsed as a watch entry (as
/// `PUT /domains/{name}` does), every line is matched as a certificate name.
pub fn watch_domain(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let entry = match WatchDomain::parse(first) {
        Ok(entry) => entry,
        Err(e) => {
            check_message(&e);
            return;
        }
    };
    // Normalisation is a fixed point, and a parsed entry is what the store keeps.
    assert_eq!(WatchDomain::parse(entry.as_str()).as_ref(), Ok(&entry));
    assert!(entry.as_str().len() <= crate::domain::MAX_NAME_LEN);

    let index = WatchIndex::new([entry.clone()]);
    let names: Vec<&str> = text.split('\n').collect();
    let matches = index.matches(&names);
    assert!(matches.len() <= 1);
    // An entry always matches itself.
    let own = index.matches(&[entry.as_str()]);
    assert_eq!(own.len(), 1, "{} does not match itself", entry.as_str());
}

/// A Cert Spotter `GET /v1/issuances` page, as the poller receives it.
pub fn certspotter_page(data: &[u8]) {
    let page = match parse_page(data) {
        Ok(page) => page,
        Err(e) => {
            check_message(&e);
            return;
        }
    };
    for issuance in page {
        // What ctguard stores and shows of an issuance reads back the same.
        let json = serde_json::to_vec(&issuance).expect("an issuance serialises");
        let again: Issuance = serde_json::from_slice(&json).expect("a serialised issuance parses");
        assert_eq!(again, issuance);
        if let Some(der) = &issuance.cert_der {
            let _ = CertIdentity::from_der(der);
        }
    }
}

/// A pagination cursor from a client (`?cursor=`), decoded for two real listings.
pub fn page_cursor(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let listings: [(&[&str], (&str, &str)); 2] = [
        (&["pk", "kind", "added_key"], ("kind", "cert")),
        (&["pk", "feed", "seen_key"], ("feed", "alert")),
    ];
    for (key_attrs, fixed) in listings {
        let Ok(key) = page_token::decode(token, key_attrs, fixed) else {
            continue;
        };
        // A token that decodes has exactly the listing's key, and re-encoding it gives a token
        // for the same key.
        assert!(key_attrs.iter().all(|a| key.contains_key(*a)));
        assert_eq!(key.get(fixed.0).map(String::as_str), Some(fixed.1));
        let plain = key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let again = page_token::encode(&plain);
        assert_eq!(page_token::decode(&again, key_attrs, fixed).ok(), Some(key));
    }
}
