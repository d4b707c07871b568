//! The detection rules, in one place: which reasons an issuance gets, and the severity its
//! reasons lead to. Pure: no I/O, no clock. The README's reasons table repeats them.
//!
//! | code | when | severity |
//! |---|---|---|
//! | `not_in_inventory` | neither the TBS hash nor the key authorizes the certificate | `pending` inside the grace period, then `suspicious` |
//! | `unexpected_issuer` | unauthorized, and a matched entry's `allowed_issuers` has none of the issuer's CAA identifiers ([`unexpected_issuer`]) | `suspicious` (`pending` in grace) |
//! | `key_out_of_scope` | the key is authorized only for other names | `suspicious` (`pending` in grace) |
//! | `weak_key` | RSA under 2048 bits, exponent 1 or even, ROCA fingerprint; EC curve not P-256/384/521 | `suspicious`, even when authorized |
//! | `expiring` | a deployed certificate expires soon with no renewal pushed | `suspicious` |
//! | `caa_violation` | CAA (at detection time) does not permit the issuing CA | `critical` |
//! | `compromised_key` | the key was marked compromised | `critical`, even when authorized |
//!
//! The alert's severity is the highest any of its reasons leads to; no reason: `info`.
//! `not_in_inventory`, `unexpected_issuer` and `key_out_of_scope` hold only while the
//! certificate is unauthorized: a push in the grace period clears them, the others stay.

use chrono::{DateTime, Utc};

use crate::bounds::clip_text;
use crate::hash::Sha256Hash;
use crate::model::{Compromise, Reason, ReasonCode, Severity};
use crate::scope::name_covers;

/// A reason's `detail`, at most (the messages and the stored alert stay bounded: at most one
/// reason per code, so at most `7 × 512` bytes of details).
pub const REASON_DETAIL_MAX: usize = 512;

impl ReasonCode {
    /// Almost certainly an attack or a misissuance: the alert is `critical` whatever else
    /// holds, and it does not wait for the grace period.
    pub fn is_critical(self) -> bool {
        matches!(self, ReasonCode::CaaViolation | ReasonCode::CompromisedKey)
    }

    /// Holds only while the certificate is not authorized (a push in time clears it).
    pub fn cleared_by_authorization(self) -> bool {
        matches!(
            self,
            ReasonCode::NotInInventory | ReasonCode::UnexpectedIssuer | ReasonCode::KeyOutOfScope
        )
    }
}

impl Reason {
    /// A reason with its detail clipped to [`REASON_DETAIL_MAX`] bytes.
    pub fn new(code: ReasonCode, detail: &str) -> Self {
        Self {
            code,
            detail: clip_text(detail, REASON_DETAIL_MAX),
        }
    }
}

/// What the pure checks found about one issuance, besides the inventory (each `Some` is the
/// reason's detail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub weak_key: Option<String>,
    pub unexpected_issuer: Option<String>,
    pub caa_violation: Option<String>,
    pub key_out_of_scope: Option<String>,
    pub compromised_key: Option<String>,
}

const NOT_IN_INVENTORY: &str =
    "neither this certificate (TBS hash) nor its public key is in the inventory";

/// The reasons of an issuance: `authorized` says whether the inventory authorizes it.
pub fn reasons(authorized: bool, findings: &Findings) -> Vec<Reason> {
    let mut out = Vec::new();
    let mut add = |code, detail: &Option<String>| {
        if let Some(detail) = detail {
            out.push(Reason::new(code, detail));
        }
    };
    if !authorized {
        add(
            ReasonCode::NotInInventory,
            &Some(NOT_IN_INVENTORY.to_owned()),
        );
        add(ReasonCode::UnexpectedIssuer, &findings.unexpected_issuer);
        add(ReasonCode::KeyOutOfScope, &findings.key_out_of_scope);
    }
    add(ReasonCode::CaaViolation, &findings.caa_violation);
    add(ReasonCode::CompromisedKey, &findings.compromised_key);
    add(ReasonCode::WeakKey, &findings.weak_key);
    normalize(out)
}

/// The reasons of a pending alert at its grace re-check: authorized now, the reasons that
/// only held while unauthorized are cleared; not authorized, `not_in_inventory` holds (also
/// for alerts stored before reasons existed).
pub fn recheck_reasons(stored: &[Reason], authorized: bool) -> Vec<Reason> {
    let mut out: Vec<Reason> = stored
        .iter()
        .filter(|r| !(authorized && r.code.cleared_by_authorization()))
        .cloned()
        .collect();
    if !authorized {
        out.push(Reason::new(ReasonCode::NotInInventory, NOT_IN_INVENTORY));
    }
    normalize(out)
}

/// The severity reasons lead to: `critical` if any is critical; with `not_in_inventory`,
/// `pending` while `in_grace`, else `suspicious`; any other reason `suspicious`; none `info`.
pub fn severity(reasons: &[Reason], in_grace: bool) -> Severity {
    if reasons.iter().any(|r| r.code.is_critical()) {
        Severity::Critical
    } else if in_grace && reasons.iter().any(|r| r.code == ReasonCode::NotInInventory) {
        Severity::Pending
    } else if reasons.is_empty() {
        Severity::Info
    } else {
        Severity::Suspicious
    }
}

/// At most one reason per code (the first), in [`ReasonCode`] order.
pub fn normalize(mut reasons: Vec<Reason>) -> Vec<Reason> {
    reasons.sort_by_key(|r| r.code); // stable: the first of a code stays first
    reasons.dedup_by_key(|r| r.code);
    reasons
}

/// Names a key-scope detail quotes at most (the detail is clipped anyway; this keeps it
/// readable).
const LISTED_NAMES: usize = 5;

fn listed(names: &[&str]) -> String {
    let mut out: Vec<&str> = names.iter().take(LISTED_NAMES).copied().collect();
    let more = names.len().saturating_sub(LISTED_NAMES);
    let more = (more > 0).then(|| format!("and {more} more"));
    out.extend(more.as_deref());
    out.join(", ")
}

/// Key scope: the `key_out_of_scope` detail when a key authorized for `key_names` (its
/// scope, patterns as in [`crate::scope`]; empty: unscoped, any name) is used for a
/// certificate with a name outside them (or with no name at all). Every SAN is checked.
pub fn key_out_of_scope(key_names: &[String], cert_names: &[String]) -> Option<String> {
    if key_names.is_empty() {
        return None;
    }
    let scope: Vec<&str> = key_names.iter().map(String::as_str).collect();
    if cert_names.is_empty() {
        return Some(format!(
            "the key is authorized only for {}; the certificate names nothing",
            listed(&scope)
        ));
    }
    let outside: Vec<&str> = cert_names
        .iter()
        .map(String::as_str)
        .filter(|n| !key_names.iter().any(|p| name_covers(p, n)))
        .collect();
    (!outside.is_empty()).then(|| {
        format!(
            "the key is authorized only for {}; {} of {} names lie outside: {}",
            listed(&scope),
            outside.len(),
            cert_names.len(),
            listed(&outside)
        )
    })
}

/// The `compromised_key` detail of a key marked compromised.
pub fn compromised_key(mark: &Compromise) -> String {
    let mut detail = format!(
        "the public key was marked compromised at {} by {}",
        mark.at.format("%Y-%m-%dT%H:%M:%SZ"),
        mark.by
    );
    if let Some(note) = mark.note.as_deref().filter(|n| !n.is_empty()) {
        detail.push_str(": ");
        detail.push_str(note);
    }
    detail
}

/// Expiry (issue 10 §5; the poller's `expiry` step raises them). Which warning a deployed certificate is due at `now`: `first` (default 14 days)
/// and `second` (default 3 days) before its `not_after`; none once it has expired (its
/// replacement or its absence is then another matter) or while it is further out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExpiryStage {
    First,
    Second,
}

impl ExpiryStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryStage::First => "first",
            ExpiryStage::Second => "second",
        }
    }
}

pub fn expiry_stage(
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
    first: chrono::Duration,
    second: chrono::Duration,
) -> Option<ExpiryStage> {
    if not_after <= now {
        return None;
    }
    let left = not_after - now;
    if left <= second {
        Some(ExpiryStage::Second)
    } else if left <= first {
        Some(ExpiryStage::First)
    } else {
        None
    }
}

/// Whether certificates pushed later renew a deployed one: every one of its names is served
/// by a name of some certificate that expires later (the same name, or a wildcard one label
/// up: `*.shop.example.com` serves `www.shop.example.com`; `shop.example.com` does not).
/// `newer`: each other certificate's names and `not_after`.
pub fn renewed<'a>(
    names: &[String],
    not_after: DateTime<Utc>,
    newer: impl IntoIterator<Item = (&'a [String], DateTime<Utc>)>,
) -> bool {
    let later: Vec<&[String]> = newer
        .into_iter()
        .filter(|(_, t)| *t > not_after)
        .map(|(n, _)| n)
        .collect();
    !names.is_empty()
        && names
            .iter()
            .all(|name| later.iter().flat_map(|l| l.iter()).any(|p| serves(p, name)))
}

/// A certificate name `served` by certificate name `by`: equal, or `by` a wildcard whose
/// single label stands for the name's first label (case and a trailing dot ignored).
fn serves(by: &str, name: &str) -> bool {
    let norm = |n: &str| n.trim().trim_end_matches('.').to_ascii_lowercase();
    let (by, name) = (norm(by), norm(name));
    if by == name {
        return true;
    }
    match (by.strip_prefix("*."), name.split_once('.')) {
        (Some(parent), Some((first, rest))) => !first.is_empty() && rest == parent,
        _ => false,
    }
}

/// The stable identity of an `expiring` alert: one per certificate and stage, so a rerun
/// finds the alert it created (create-if-absent) instead of alerting twice.
pub fn expiring_alert_id(tbs: &Sha256Hash, stage: ExpiryStage) -> Sha256Hash {
    Sha256Hash::digest(format!("ctguard expiring v1\0{tbs}\0{}", stage.as_str()).as_bytes())
}

/// The `expiring` detail.
pub fn expiring_detail(names: &[String], not_after: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    format!(
        "the deployed certificate for {} expires at {} (in {} h) and no renewal was pushed",
        listed(&names),
        not_after.format("%Y-%m-%dT%H:%M:%SZ"),
        (not_after - now).num_hours().max(0)
    )
}

/// Names of one certificate that expiry tracking records (a certificate may carry
/// thousands; each tracked name costs one write per push). The rest are not tracked.
pub const DEPLOYED_NAMES_MAX: usize = 100;

/// The key expiry tracking keeps a name under: trimmed, lowercase, no trailing dot (as
/// [`renewed`] compares names); `None` for an empty name or one over 253 bytes (no DNS name).
pub fn deployed_name(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty() && name.len() <= 253).then_some(name)
}

/// The names of a certificate that expiry tracking records: normalised by [`deployed_name`],
/// distinct, in order, at most [`DEPLOYED_NAMES_MAX`].
pub fn deployed_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names.iter().filter_map(|n| deployed_name(n)) {
        if out.len() >= DEPLOYED_NAMES_MAX {
            break;
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The wildcard one label up that would serve `name` (`*.shop.example.com` for
/// `www.shop.example.com`); none for a wildcard or a single label.
pub fn wildcard_parent(name: &str) -> Option<String> {
    if name.starts_with("*.") {
        return None;
    }
    match name.split_once('.') {
        Some((first, rest)) if !first.is_empty() && !rest.is_empty() => Some(format!("*.{rest}")),
        _ => None,
    }
}

/// One `expiring` alert due: a deployed certificate, the stage reached, and its names that
/// no later certificate serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryDue {
    pub tbs_sha256: Sha256Hash,
    pub not_after: DateTime<Utc>,
    pub stage: ExpiryStage,
    pub unrenewed: Vec<String>,
}

/// Which `expiring` alerts are due at `now`. `window`: the names whose latest deployed
/// certificate expires within `first` of `now` (what the store's bounded query returns);
/// `parents`: the records of their wildcard parents ([`wildcard_parent`]). A name is renewed
/// when a record for it or for its wildcard parent expires later ([`renewed`]); one entry per
/// certificate with an unrenewed name, soonest first.
pub fn expiry_due(
    window: &[crate::model::Deployed],
    parents: &[crate::model::Deployed],
    now: DateTime<Utc>,
    first: chrono::Duration,
    second: chrono::Duration,
) -> Vec<ExpiryDue> {
    let mut due: Vec<ExpiryDue> = Vec::new();
    for d in window {
        let Some(stage) = expiry_stage(d.not_after, now, first, second) else {
            continue;
        };
        let others = window
            .iter()
            .chain(parents)
            .map(|o| (std::slice::from_ref(&o.name), o.not_after));
        if renewed(std::slice::from_ref(&d.name), d.not_after, others) {
            continue;
        }
        match due.iter_mut().find(|e| e.tbs_sha256 == d.tbs_sha256) {
            Some(e) => e.unrenewed.push(d.name.clone()),
            None => due.push(ExpiryDue {
                tbs_sha256: d.tbs_sha256,
                not_after: d.not_after,
                stage,
                unrenewed: vec![d.name.clone()],
            }),
        }
    }
    due.sort_by_key(|d| (d.not_after, d.tbs_sha256));
    due
}

/// Issuer policy: at most this many `allowed_issuers` per watch entry.
pub const ALLOWED_ISSUERS_MAX: usize = 32;

/// A CAA identifier as an operator writes it in an issuer policy (`POST /domains`): exactly a
/// domain name, at most one trailing dot, at most 253 characters, nothing to trim (the API's
/// schema says the same, so what the spec rejects the API rejects). Lower-cased.
pub fn parse_caa_identifier_input(raw: &str) -> Result<String, &'static str> {
    if raw.len() > 253 {
        return Err("is longer than 253 characters");
    }
    let name = raw.strip_suffix('.').unwrap_or(raw);
    if name.trim() != name || name.ends_with('.') {
        return Err("is not a domain name (letters, digits, hyphens and dots)");
    }
    parse_caa_identifier(name)
}

/// A CAA issuer identifier (RFC 8659 `issuer-domain-name`, e.g. `letsencrypt.org`) as the
/// issuer policy stores and compares it: trimmed, lowercase, no trailing dot; labels of
/// letters, digits and hyphens, at most 253 characters.
pub fn parse_caa_identifier(raw: &str) -> Result<String, &'static str> {
    let id = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if id.is_empty() {
        return Err("is empty");
    }
    if id.len() > 253 {
        return Err("is longer than 253 characters");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !id.split('.').all(label_ok) {
        return Err("is not a domain name (letters, digits, hyphens and dots)");
    }
    Ok(id)
}

/// The `unexpected_issuer` detail, if a matched entry's policy does not allow the issuer.
/// `policies`: each matched entry with its `allowed_issuers` (entries without a policy allow
/// any CA); `caa_domains`: the issuer's CAA identifiers according to Cert Spotter. The issuer
/// is allowed by an entry when one of its identifiers is in the entry's list (case and a
/// trailing dot ignored); an issuer without identifiers is allowed by no policy.
pub fn unexpected_issuer<'a>(
    issuer: Option<&str>,
    caa_domains: &[String],
    policies: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Option<String> {
    let ids: Vec<String> = caa_domains
        .iter()
        .filter_map(|d| parse_caa_identifier(d).ok())
        .collect();
    let mut refused: Vec<(&str, &[String])> = policies
        .into_iter()
        .filter(|(_, allowed)| !allowed.is_empty())
        .filter(|(_, allowed)| !ids.iter().any(|id| allowed.contains(id)))
        .collect();
    if refused.is_empty() {
        return None;
    }
    refused.sort();
    let issuer = issuer.unwrap_or("an unknown CA");
    let ids = if ids.is_empty() {
        "Cert Spotter lists no CAA identifiers for it".to_owned()
    } else {
        format!("CAA identifiers {}", ids.join(", "))
    };
    let entries: Vec<String> = refused
        .iter()
        .map(|(entry, allowed)| format!("{entry} allows {}", allowed.join(", ")))
        .collect();
    Some(format!(
        "issued by {issuer} ({ids}); {}",
        entries.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(reasons: &[Reason]) -> Vec<ReasonCode> {
        reasons.iter().map(|r| r.code).collect()
    }

    fn weak() -> Findings {
        Findings {
            weak_key: Some("RSA 1024 bits".to_owned()),
            ..Findings::default()
        }
    }

    #[test]
    fn authorized_without_findings_is_info() {
        let r = reasons(true, &Findings::default());
        assert!(r.is_empty());
        assert_eq!(severity(&r, false), Severity::Info);
        assert_eq!(severity(&r, true), Severity::Info);
    }

    #[test]
    fn unauthorized_is_pending_in_grace_then_suspicious() {
        let r = reasons(false, &Findings::default());
        assert_eq!(codes(&r), [ReasonCode::NotInInventory]);
        assert_eq!(severity(&r, true), Severity::Pending);
        assert_eq!(severity(&r, false), Severity::Suspicious);
    }

    #[test]
    fn a_weak_key_is_suspicious_even_when_authorized() {
        let r = reasons(true, &weak());
        assert_eq!(codes(&r), [ReasonCode::WeakKey]);
        assert_eq!(severity(&r, true), Severity::Suspicious);
    }

    #[test]
    fn critical_reasons_are_critical_at_once_even_when_authorized() {
        for (authorized, findings) in [
            (
                true,
                Findings {
                    compromised_key: Some("marked compromised".to_owned()),
                    ..Findings::default()
                },
            ),
            (
                false,
                Findings {
                    caa_violation: Some("CAA permits only letsencrypt.org".to_owned()),
                    ..weak()
                },
            ),
        ] {
            let r = reasons(authorized, &findings);
            assert_eq!(severity(&r, true), Severity::Critical, "{r:?}");
        }
    }

    #[test]
    fn inventory_reasons_apply_only_to_unauthorized_certificates() {
        let findings = Findings {
            unexpected_issuer: Some("issued by other.example".to_owned()),
            key_out_of_scope: Some("key scoped to shop.example.com".to_owned()),
            ..weak()
        };
        assert_eq!(
            codes(&reasons(false, &findings)),
            [
                ReasonCode::NotInInventory,
                ReasonCode::UnexpectedIssuer,
                ReasonCode::KeyOutOfScope,
                ReasonCode::WeakKey
            ]
        );
        assert_eq!(codes(&reasons(true, &findings)), [ReasonCode::WeakKey]);
    }

    #[test]
    fn recheck_clears_inventory_reasons_on_authorization_and_keeps_the_rest() {
        let stored = reasons(
            false,
            &Findings {
                unexpected_issuer: Some("x".to_owned()),
                ..weak()
            },
        );
        assert_eq!(
            codes(&recheck_reasons(&stored, true)),
            [ReasonCode::WeakKey]
        );
        assert_eq!(recheck_reasons(&stored, false), stored);
        // An alert stored before reasons existed.
        assert_eq!(
            codes(&recheck_reasons(&[], false)),
            [ReasonCode::NotInInventory]
        );
        assert!(recheck_reasons(&[], true).is_empty());
    }

    #[test]
    fn details_are_bounded_and_codes_unique() {
        let long = "x".repeat(10_000);
        let r = normalize(vec![
            Reason::new(ReasonCode::WeakKey, &long),
            Reason::new(ReasonCode::WeakKey, "second"),
        ]);
        assert_eq!(r.len(), 1);
        assert!(r[0].detail.len() <= REASON_DETAIL_MAX);
    }

    #[test]
    fn caa_identifiers_are_normalised_and_checked() {
        assert_eq!(
            parse_caa_identifier(" LetsEncrypt.ORG. ").unwrap(),
            "letsencrypt.org"
        );
        assert_eq!(parse_caa_identifier("pki.goog").unwrap(), "pki.goog");
        // What an operator writes: no trimming, one trailing dot at most (the API's schema).
        assert_eq!(
            parse_caa_identifier_input("LetsEncrypt.ORG.").unwrap(),
            "letsencrypt.org"
        );
        for bad in [
            " letsencrypt.org",
            "letsencrypt.org ",
            "letsencrypt.org..",
            ".",
            "",
        ] {
            assert!(parse_caa_identifier_input(bad).is_err(), "{bad:?}");
        }
        let label = "a".repeat(63);
        let long = format!("{label}.{label}.{label}.{label}.");
        assert!(
            parse_caa_identifier_input(&long).is_err(),
            "over 253 characters"
        );
        for bad in [
            "",
            ".",
            "lets encrypt.org",
            "a..b",
            "-x.org",
            "x.org/",
            &"a".repeat(254),
        ] {
            assert!(parse_caa_identifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_issuer_outside_a_matched_entrys_policy_is_unexpected() {
        let le = vec!["letsencrypt.org".to_owned()];
        let le_and_google = vec!["letsencrypt.org".to_owned(), "pki.goog".to_owned()];
        let none: Vec<String> = vec![];
        let caa = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        // Allowed: an identifier in the list (case and trailing dot ignored).
        assert_eq!(
            unexpected_issuer(
                Some("R11"),
                &caa(&["LetsEncrypt.org."]),
                [("example.com", le.as_slice())]
            ),
            None
        );
        // No policy on any matched entry: any CA.
        assert_eq!(
            unexpected_issuer(Some("X"), &caa(&["other.ca"]), [("a.com", none.as_slice())]),
            None
        );
        // Another CA.
        let detail = unexpected_issuer(
            Some("Other CA"),
            &caa(&["other.ca"]),
            [("example.com", le_and_google.as_slice())],
        )
        .unwrap();
        assert_eq!(
            detail,
            "issued by Other CA (CAA identifiers other.ca); example.com allows letsencrypt.org, \
             pki.goog"
        );
        // Two matched entries: one allowing it is not enough when the other does not.
        let detail = unexpected_issuer(
            None,
            &caa(&["pki.goog"]),
            [
                ("a.example.com", le_and_google.as_slice()),
                ("example.com", le.as_slice()),
            ],
        )
        .unwrap();
        assert!(detail.contains("example.com allows letsencrypt.org"));
        assert!(!detail.contains("a.example.com allows"));
        // An issuer without CAA identifiers matches no policy.
        let detail =
            unexpected_issuer(Some("Mystery"), &[], [("example.com", le.as_slice())]).unwrap();
        assert!(detail.contains("Cert Spotter lists no CAA identifiers"));
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_key_used_outside_its_names_is_out_of_scope() {
        let scope = strings(&["shop.example.com", "*.cdn.example.com"]);
        // Inside: the names themselves and anything below them.
        assert_eq!(
            key_out_of_scope(&scope, &strings(&["shop.example.com", "a.cdn.example.com"])),
            None
        );
        assert_eq!(
            key_out_of_scope(&scope, &strings(&["*.shop.example.com"])),
            None
        );
        // One SAN outside is enough; the detail names it, not the others.
        let detail = key_out_of_scope(
            &scope,
            &strings(&["shop.example.com", "admin.example.com", "*.example.com"]),
        )
        .unwrap();
        assert_eq!(
            detail,
            "the key is authorized only for shop.example.com, *.cdn.example.com; 2 of 3 names \
             lie outside: admin.example.com, *.example.com"
        );
        // No names at all is not inside any scope.
        assert!(
            key_out_of_scope(&scope, &[])
                .unwrap()
                .contains("names nothing")
        );
        // An unscoped key (admin's) has no scope to leave.
        assert_eq!(key_out_of_scope(&[], &strings(&["any.example.net"])), None);
        // Long lists stay readable and bounded.
        let many: Vec<String> = (0..1000).map(|i| format!("n{i}.example.net")).collect();
        let detail = key_out_of_scope(&scope, &many).unwrap();
        assert!(detail.ends_with("and 995 more"), "{detail}");
        assert!(Reason::new(ReasonCode::KeyOutOfScope, &detail).detail.len() <= REASON_DETAIL_MAX);
    }

    #[test]
    fn a_compromised_key_is_critical_authorized_or_not_and_says_who_marked_it() {
        let mark = Compromise {
            at: "2026-01-02T03:04:05Z".parse().unwrap(),
            by: "ops".to_owned(),
            note: Some("leaked in incident 42".to_owned()),
        };
        let detail = compromised_key(&mark);
        assert_eq!(
            detail,
            "the public key was marked compromised at 2026-01-02T03:04:05Z by ops: leaked in \
             incident 42"
        );
        for authorized in [true, false] {
            let r = reasons(
                authorized,
                &Findings {
                    compromised_key: Some(detail.clone()),
                    ..Findings::default()
                },
            );
            assert!(codes(&r).contains(&ReasonCode::CompromisedKey));
            assert_eq!(severity(&r, true), Severity::Critical, "no grace for it");
        }
    }

    #[test]
    fn expiry_warns_at_two_thresholds_and_not_after_expiry() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let not_after = t("2026-03-31T00:00:00Z");
        let (first, second) = (chrono::Duration::days(14), chrono::Duration::days(3));
        let at = |now: &str| expiry_stage(not_after, t(now), first, second);
        assert_eq!(at("2026-03-01T00:00:00Z"), None);
        assert_eq!(at("2026-03-16T23:59:59Z"), None);
        assert_eq!(at("2026-03-17T00:00:00Z"), Some(ExpiryStage::First));
        assert_eq!(at("2026-03-28T00:00:00Z"), Some(ExpiryStage::Second));
        assert_eq!(at("2026-03-31T00:00:00Z"), None, "expired");
        // Stable identities, one per certificate and stage.
        let tbs = Sha256Hash::digest(b"tbs");
        assert_eq!(
            expiring_alert_id(&tbs, ExpiryStage::First),
            expiring_alert_id(&tbs, ExpiryStage::First)
        );
        assert_ne!(
            expiring_alert_id(&tbs, ExpiryStage::First),
            expiring_alert_id(&tbs, ExpiryStage::Second)
        );
        assert_ne!(expiring_alert_id(&tbs, ExpiryStage::First), tbs);
        let detail = expiring_detail(
            &strings(&["shop.example.com"]),
            not_after,
            t("2026-03-28T00:00:00Z"),
        );
        assert_eq!(
            detail,
            "the deployed certificate for shop.example.com expires at 2026-03-31T00:00:00Z (in 72 \
             h) and no renewal was pushed"
        );
    }

    #[test]
    fn a_later_certificate_covering_every_name_renews() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let old = strings(&["shop.example.com", "www.shop.example.com"]);
        let (march, june) = (t("2026-03-31T00:00:00Z"), t("2026-06-30T00:00:00Z"));
        let same = old.clone();
        let wider = strings(&[
            "shop.example.com",
            "www.shop.example.com",
            "api.example.com",
        ]);
        let wildcard = strings(&["shop.example.com", "*.shop.example.com"]);
        let half = strings(&["shop.example.com"]);
        let rest = strings(&["www.shop.example.com"]);
        assert!(renewed(&old, march, [(same.as_slice(), june)]));
        assert!(renewed(&old, march, [(wider.as_slice(), june)]));
        assert!(renewed(&old, march, [(wildcard.as_slice(), june)]));
        assert!(renewed(
            &old,
            march,
            [(half.as_slice(), june), (rest.as_slice(), june)]
        ));
        assert!(
            !renewed(&old, march, [(half.as_slice(), june)]),
            "www not served"
        );
        let deeper = strings(&["*.example.com"]);
        assert!(
            !renewed(&rest, march, [(deeper.as_slice(), june)]),
            "one label only"
        );
        assert!(
            !renewed(&old, march, [(same.as_slice(), march)]),
            "not newer"
        );
        assert!(!renewed(&old, march, []));
    }

    fn deployed(name: &str, tbs: &[u8], not_after: &str) -> crate::model::Deployed {
        crate::model::Deployed {
            name: name.to_owned(),
            tbs_sha256: Sha256Hash::digest(tbs),
            not_after: not_after.parse().unwrap(),
        }
    }

    #[test]
    fn deployed_names_are_normalised_distinct_and_bounded() {
        assert_eq!(
            deployed_names(&strings(&[
                " Shop.Example.COM. ",
                "shop.example.com",
                "",
                "*.A.b"
            ])),
            strings(&["shop.example.com", "*.a.b"])
        );
        assert_eq!(deployed_name(&"a".repeat(254)), None);
        let many: Vec<String> = (0..1000).map(|i| format!("n{i}.example.net")).collect();
        assert_eq!(deployed_names(&many).len(), DEPLOYED_NAMES_MAX);
        assert_eq!(
            wildcard_parent("www.shop.example.com").as_deref(),
            Some("*.shop.example.com")
        );
        assert_eq!(wildcard_parent("*.shop.example.com"), None);
        assert_eq!(wildcard_parent("localhost"), None);
        assert_eq!(wildcard_parent(".x"), None);
    }

    #[test]
    fn expiry_is_due_per_certificate_for_unrenewed_names_only() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (first, second) = (chrono::Duration::days(14), chrono::Duration::days(3));
        let march = "2026-03-31T00:00:00Z";
        let window = [
            deployed("shop.example.com", b"old", march),
            deployed("www.shop.example.com", b"old", march),
            deployed("api.example.com", b"api", "2026-03-29T00:00:00Z"),
        ];
        // 14 days before: the first stage for both certificates, soonest first.
        let due = expiry_due(&window, &[], t("2026-03-17T00:00:00Z"), first, second);
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].tbs_sha256, Sha256Hash::digest(b"api"));
        assert_eq!(due[1].stage, ExpiryStage::First);
        assert_eq!(
            due[1].unrenewed,
            strings(&["shop.example.com", "www.shop.example.com"])
        );
        // The second stage 3 days before; nothing once expired; nothing further out.
        let due = expiry_due(&window, &[], t("2026-03-28T12:00:00Z"), first, second);
        assert!(due.iter().all(|d| d.stage == ExpiryStage::Second));
        assert!(expiry_due(&window, &[], t(march), first, second).is_empty());
        assert!(expiry_due(&window, &[], t("2026-03-01T00:00:00Z"), first, second).is_empty());
        // A wildcard one label up that expires later serves www; shop stays unrenewed.
        let parents = [deployed(
            "*.shop.example.com",
            b"new",
            "2026-06-30T00:00:00Z",
        )];
        let due = expiry_due(
            &window[..2],
            &parents,
            t("2026-03-20T00:00:00Z"),
            first,
            second,
        );
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].unrenewed, strings(&["shop.example.com"]));
        // A wildcard that expires no later renews nothing.
        let stale = [deployed("*.shop.example.com", b"w", march)];
        let due = expiry_due(
            &window[..2],
            &stale,
            t("2026-03-20T00:00:00Z"),
            first,
            second,
        );
        assert_eq!(due[0].unrenewed.len(), 2);
    }

    #[test]
    fn every_code_serializes_as_its_documented_name() {
        for code in ReasonCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().to_owned())
            );
        }
    }
}
