//! Record builders for tests (feature `fixtures`; every crate's tests use these, so each
//! record is written out field by field in one place only: [`stored_alert`],
//! [`inventory_cert`], [`authorized_key`]). Not for production code.

use chrono::{DateTime, Utc};

use crate::certspotter::Issuance;
use crate::classify::Classification;
use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::matcher::EntryMatch;
use crate::model::{
    Alert, AuthorizedBy, AuthorizedKey, Delivery, InventoryCert, IssuerInfo, Severity,
};
use crate::rules;

/// The tests' "now": 2025-06-01 12:00 UTC.
pub fn t0() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().expect("valid time")
}

/// A hash derived from `label` and `n`.
pub fn hash(label: &str, n: u64) -> Sha256Hash {
    Sha256Hash::digest(format!("{label}{n}").as_bytes())
}

/// Issuance number `n`: id `n`, hashes derived from `n`, valid 90 days.
pub fn issuance(n: u64, names: &[&str]) -> Issuance {
    serde_json::from_value(serde_json::json!({
        "id": n.to_string(),
        "tbs_sha256": hash("tbs", n),
        "cert_sha256": hash("cert", n),
        "pubkey_sha256": hash("key", n),
        "dns_names": names,
        "not_before": "2025-05-01T00:00:00Z",
        "not_after": "2025-07-30T00:00:00Z",
        "issuer": {"friendly_name": "Test CA", "name": "C=US, O=Test, CN=Test CA"},
        "revoked": false,
        "problem_reporting": "abuse@ca.example",
    }))
    .expect("valid issuance")
}

pub fn domain(s: &str) -> WatchDomain {
    WatchDomain::parse(s).expect("valid domain")
}

pub fn entry_match(entry: &str, names: &[&str]) -> EntryMatch {
    EntryMatch {
        entry: domain(entry),
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

/// An alert as the poller stores it, the one place a test alert is written out field by
/// field: hashes derived from `seed`, one name `<seed>.example.org`, no watch-entry match, no
/// reasons, first seen and classified at `first_seen_at`, valid 90 days from then, SNS queued
/// and email skipped (an `info` alert's states). Tests change the fields they are about.
pub fn stored_alert(seed: &str, severity: Severity, first_seen_at: DateTime<Utc>) -> Alert {
    let digest = |what: &str| Sha256Hash::digest(format!("{what}-{seed}").as_bytes());
    Alert {
        tbs_sha256: digest("tbs"),
        issuance_id: format!("issuance-{seed}"),
        cert_sha256: digest("cert"),
        pubkey_sha256: digest("key"),
        dns_names: vec![format!("{seed}.example.org")],
        matched: vec![],
        names_total: None,
        names_truncated: false,
        matched_names_total: None,
        matched_truncated: false,
        reduced: None,
        issuer: IssuerInfo::default(),
        not_before: first_seen_at,
        not_after: first_seen_at + chrono::Duration::days(90),
        revoked: false,
        problem_reporting: None,
        severity,
        reasons: vec![],
        authorized_by: None,
        caa: None,
        first_seen_at,
        classified_at: first_seen_at,
        grace_until: None,
        baseline: false,
        sns: Delivery::queued(),
        email: Delivery::skipped(),
        ack: None,
        expires_at: None,
    }
}

/// The alert for [`issuance`] `n` of `names`, matched by `example.com`, first seen at
/// [`t0`], both channels queued. `info` alerts are authorized by TBS hash; any other severity
/// carries the reasons of an issuance missing from the inventory.
pub fn alert(n: u64, severity: Severity, names: &[&str]) -> Alert {
    let i = issuance(n, names);
    Alert {
        tbs_sha256: i.tbs_sha256,
        issuance_id: i.id,
        cert_sha256: i.cert_sha256,
        pubkey_sha256: i.pubkey_sha256,
        dns_names: i.dns_names,
        matched: vec![entry_match("example.com", names)],
        issuer: IssuerInfo {
            friendly_name: Some("Test CA".into()),
            name: Some("CN=Test CA".into()),
            pubkey_sha256: None,
            caa_domains: vec![],
        },
        not_before: i.not_before,
        not_after: i.not_after,
        reasons: match severity {
            Severity::Info => vec![],
            _ => rules::reasons(false, &rules::Findings::default()),
        },
        authorized_by: (severity == Severity::Info).then_some(AuthorizedBy::TbsSha256),
        email: Delivery::queued(),
        ..stored_alert(&n.to_string(), severity, t0())
    }
}

/// The alert the poller stores for `issuance` classified as `verdict`.
pub fn alert_for(issuance: &Issuance, verdict: &Classification) -> Alert {
    let mut a = alert(1, verdict.severity, &["www.example.com"]);
    a.tbs_sha256 = issuance.tbs_sha256;
    a.pubkey_sha256 = issuance.pubkey_sha256;
    a.dns_names = issuance.dns_names.clone();
    a.reasons = verdict.reasons.clone();
    a.authorized_by = verdict.authorized_by;
    a.grace_until = verdict.grace_until;
    a
}

/// A `pending` alert whose grace period ends at `grace_until`.
pub fn pending_alert(n: u64, grace_until: DateTime<Utc>) -> Alert {
    let mut a = alert(n, Severity::Pending, &["www.example.com"]);
    a.authorized_by = None;
    a.grace_until = Some(grace_until);
    a
}

/// An inventory certificate known only by its TBS hash and `names`, pushed by `source` at
/// `added_at`; every optional field empty (set what a test needs with `..`).
pub fn inventory_cert(
    tbs_sha256: Sha256Hash,
    names: &[&str],
    source: &str,
    added_at: DateTime<Utc>,
) -> InventoryCert {
    InventoryCert {
        tbs_sha256,
        pubkey_sha256: None,
        cert_sha256: None,
        dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
        not_before: None,
        not_after: None,
        serial: None,
        issuer: None,
        source: source.to_owned(),
        sources: vec![],
        added_at,
        updated_at: added_at,
        expires_at: None,
        has_scts: false,
        ct_seen_at: None,
        not_logged_alerted_at: None,
    }
}

/// An authorized key for `names` (empty: any name), added by `source` at `added_at`; no note,
/// expiry or compromise mark.
pub fn authorized_key(
    pubkey_sha256: Sha256Hash,
    names: &[&str],
    source: &str,
    added_at: DateTime<Utc>,
) -> AuthorizedKey {
    AuthorizedKey {
        pubkey_sha256,
        dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
        note: None,
        source: source.to_owned(),
        sources: vec![],
        added_at,
        expires_at: None,
        compromised: None,
    }
}
