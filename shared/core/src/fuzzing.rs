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

/// The API's JSON request bodies: the input is decoded as the body of every route that takes
/// JSON (`POST /certs`, `/keys`, `/domains`, `/alerts/{tbs}/ack`), and what decodes goes through
/// the field checks the handlers apply.
pub fn api_body(data: &[u8]) {
    use crate::api_input::body::{self, AckJson, CertJson, ContentKind, DomainJson, KeyJson};
    use crate::api_input::{self as input, time};

    fn input_error(e: &input::InputError, code: &str) {
        assert_eq!(e.code, code, "{e}");
        check_message(e);
    }
    fn names(field: &str, names: &[String]) -> Vec<String> {
        // (The handlers refuse more than MAX_NAMES with `too_many_names` before this.)
        if names.len() > input::MAX_NAMES {
            return Vec::new();
        }
        let mut out = Vec::new();
        for name in names {
            match input::normalize_name(field, name) {
                Ok(n) => {
                    // Normalisation is a fixed point and stays within the DNS length.
                    assert_eq!(input::normalize_name(field, &n).as_ref(), Ok(&n));
                    assert!(!n.is_empty() && n.len() <= input::MAX_DNS_NAME_LEN);
                    out.push(n);
                }
                Err(e) => input_error(&e, "invalid_name"),
            }
        }
        out
    }
    fn text(field: &str, value: Option<String>, max: usize) {
        match input::check_text(field, value.clone(), max) {
            Ok(kept) => assert_eq!(kept, value),
            Err(e) => input_error(&e, "invalid_field"),
        }
    }
    fn hash(field: &str, value: Option<&str>) {
        if let Some(value) = value {
            match input::parse_hash(field, value) {
                Ok(h) => assert_eq!(input::parse_hash(field, &h.to_string()), Ok(h)),
                Err(e) => input_error(&e, "invalid_hash"),
            }
        }
    }
    fn bounded(t: Option<chrono::DateTime<chrono::Utc>>) {
        if let Some(t) = t {
            assert!(time::in_range(t), "{t:?} accepted from a body");
            // Retention arithmetic on an accepted time stays in range, whatever the delta.
            for delta in [chrono::TimeDelta::MAX, chrono::TimeDelta::MIN] {
                assert!(time::in_range(time::add_capped(t, delta)));
                assert!(time::in_range(time::sub_capped(t, delta)));
            }
        }
    }

    match body::json::<CertJson>(data) {
        Ok(cert) => {
            let _ = cert.has_explicit_fields();
            if let Some(pem) = &cert.pem
                && let Err(e) = cert::parse_certificates(pem.as_bytes())
            {
                check_message(&e);
            }
            hash("tbs_sha256", cert.tbs_sha256.as_deref());
            hash("pubkey_sha256", cert.pubkey_sha256.as_deref());
            bounded(cert.not_before);
            bounded(cert.not_after);
            names("dns_names", &cert.dns_names);
            text("source", cert.source, input::MAX_SOURCE_CHARS);
            text("serial", cert.serial, input::MAX_NOTE_CHARS);
            text("issuer", cert.issuer, input::MAX_NOTE_CHARS);
        }
        Err(e) => input_error(&e, "malformed_json"),
    }
    match body::json::<KeyJson>(data) {
        Ok(key) => {
            hash("pubkey_sha256", key.pubkey_sha256.as_deref());
            bounded(key.expires_at);
            names("dns_names", &key.dns_names);
            text("note", key.note, input::MAX_NOTE_CHARS);
        }
        Err(e) => input_error(&e, "malformed_json"),
    }
    match body::json::<DomainJson>(data) {
        Ok(domain) => {
            if let Err(e) = WatchDomain::parse(&domain.value) {
                check_message(&e);
            }
            text("note", domain.note, input::MAX_NOTE_CHARS);
        }
        Err(e) => input_error(&e, "malformed_json"),
    }
    if !AckJson::is_blank(data) {
        match body::json::<AckJson>(data) {
            Ok(ack) => text("note", ack.note, input::MAX_NOTE_CHARS),
            Err(e) => input_error(&e, "malformed_json"),
        }
    }
    // The first line as a Content-Type header value.
    if let Ok(text) = std::str::from_utf8(data) {
        let (media_type, _) = ContentKind::from_content_type(text.lines().next().unwrap_or(""));
        assert!(!media_type.contains(';'));
    }
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986), as a client would.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The key the query and cursor harnesses sign with.
const FUZZ_CURSOR_KEY: &[u8] = b"ctguard fuzz cursor key";

/// A raw query string (`rawQueryString` as the client sent it), decoded and then read with the
/// parameters of every listing route (`GET /certs`, `/keys`, `/alerts`; the other routes take
/// none): percent-decoding, `limit`, signed `cursor`, `name`, `since` (time bounds),
/// `severity`, `domain`.
pub fn api_query(data: &[u8]) {
    use crate::api_input::cursor::CursorKey;
    use crate::api_input::query::{self, Query};
    use crate::api_input::time;

    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    // Path segments are decoded without `+` as space; the result is UTF-8 when it exists.
    let _ = query::percent_decode(raw, false);
    let parsed = match Query::parse(Some(raw)) {
        Ok(q) => q,
        Err(e) => {
            check_message(&e);
            return;
        }
    };
    // What a client gets by encoding the decoded parameters decodes to the same parameters.
    let encoded = parsed
        .params()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let again = Query::parse(Some(&encoded));
    assert_eq!(
        again.as_ref().ok(),
        Some(&parsed),
        "re-encoded as {encoded:?}"
    );

    let key = CursorKey::new(FUZZ_CURSOR_KEY);
    let page = |q: &Query, listing: &str| match query::page_request(q, &key, listing) {
        Ok(page) => {
            assert!((1..=query::MAX_PAGE_SIZE).contains(&page.limit));
            if let Some(token) = &page.token {
                let cursor = key.seal(listing, token);
                assert_eq!(key.open(listing, &cursor), Ok(token.as_str()));
            }
        }
        Err(e) => check_message(&e),
    };
    let only = |known: &[&str]| match parsed.clone().only(known) {
        Ok(q) => Some(q),
        Err(e) => {
            check_message(&e);
            None
        }
    };
    if let Some(q) = only(&[]) {
        assert_eq!(q.params().count(), 0);
    }
    if let Some(q) = only(&["name", "limit", "cursor"]) {
        match query::certs_name(&q) {
            Ok(name) => page(&q, &query::certs_listing(name.as_deref())),
            Err(e) => check_message(&e),
        }
    }
    if let Some(q) = only(&["limit", "cursor"]) {
        page(&q, query::KEYS_LISTING);
    }
    if let Some(q) = only(&["since", "severity", "domain", "limit", "cursor"]) {
        match query::alert_filter(&q) {
            Ok(filter) => {
                if let Some(since) = filter.since {
                    assert!(time::in_range(since));
                    assert_eq!(time::parse_rfc3339(&since.to_rfc3339()), Ok(since));
                }
                page(&q, &query::alerts_listing(&filter));
            }
            Err(e) => check_message(&e),
        }
    }
}

/// The HMAC cursor layer: `<key length byte><key><listing>\n<cursor>` (the listing may hold
/// newlines, as the alerts listing does). A cursor opens only if it is exactly what `seal`
/// gives for its token (no second encoding of a tag verifies), and never for another listing
/// or key.
pub fn api_cursor(data: &[u8]) {
    use crate::api_input::cursor::{CursorKey, MAX_CURSOR_LEN};

    let Some((&key_len, rest)) = data.split_first() else {
        return;
    };
    let key_len = usize::from(key_len).min(rest.len());
    let (key_bytes, rest) = rest.split_at(key_len);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (listing, cursor) = text.rsplit_once('\n').unwrap_or(("certs\n", text));
    let key = CursorKey::new(key_bytes);
    match key.open(listing, cursor) {
        Ok(token) => {
            assert!(!token.is_empty());
            assert_eq!(
                key.seal(listing, token),
                cursor,
                "a non-canonical cursor opened"
            );
            let other = format!("{listing}\0");
            assert!(key.open(&other, cursor).is_err());
            // (HMAC pads short keys with zeros: "k" and "k\0" are the same key.)
            let other_key = b"another key";
            let significant = key_bytes
                .iter()
                .rposition(|&b| b != 0)
                .map_or(&[][..], |last| &key_bytes[..=last]);
            if significant != other_key {
                assert!(CursorKey::new(other_key).open(listing, cursor).is_err());
            }
        }
        Err(e) => {
            assert_eq!(e.code, "invalid_cursor");
            check_message(&e);
        }
    }
    // The input as a store token: sealing and opening gives it back (when it fits).
    if !cursor.is_empty() {
        let sealed = key.seal(listing, cursor);
        let opened = key.open(listing, &sealed);
        if sealed.len() <= MAX_CURSOR_LEN {
            assert_eq!(opened, Ok(cursor));
        } else {
            assert!(opened.is_err());
        }
    }
}

/// Push-token name scopes: the first line is a comma-separated scope (as in a token entry's
/// `names`), every other line a certificate name.
pub fn token_scope(data: &[u8]) {
    use crate::scope::{NameScope, name_covers, names_cover};

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let patterns: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let names: Vec<String> = lines.map(str::to_owned).collect();
    let scope = match NameScope::parse(&patterns) {
        Ok(scope) => scope,
        Err(e) => {
            check_message(&e);
            return;
        }
    };
    // Parsing the normalised entries gives the same scope (what a stored token reads back as).
    let entries: Vec<String> = scope
        .entries()
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect();
    assert_eq!(NameScope::parse(&entries).as_ref(), Ok(&scope));
    for entry in &entries {
        assert!(scope.covers(entry), "{entry} is outside its own scope");
    }
    let outside = scope.outside(&names);
    for name in &names {
        let covered = scope.covers(name);
        assert_eq!(covered, !outside.contains(&name.as_str()));
        // The record-name rule (names_cover) agrees with the scope on a single name.
        assert_eq!(covered, names_cover(&entries, std::slice::from_ref(name)));
        assert_eq!(covered, entries.iter().any(|e| name_covers(e, name)));
        if covered {
            // A name below a covered name is covered too.
            let below = format!("x.{}", name.trim());
            assert!(scope.covers(&below), "{below} (below {name}) is outside");
        }
    }
}
