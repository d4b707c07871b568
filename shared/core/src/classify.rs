//! Classification of one issuance, pure: no I/O, no clock (the caller passes `now`). The
//! facts come from here (inventory, key and issuer checks); what they mean (reasons and
//! severity) is decided by [`crate::rules`], the one place the rules live.
//!
//! - Authorized when the inventory authorizes the issuance, by TBS hash (this exact
//!   certificate or its precertificate) or by public-key hash (any certificate for a deployed
//!   key); a record bound to names (a key, or a hash-only push) only when every name of the
//!   issuance lies under its names. Otherwise `not_in_inventory`, and `key_out_of_scope`
//!   when the key is authorized but only for other names.
//! - A key marked compromised is checked first: it authorizes nothing, and any certificate
//!   for it is `critical` (`compromised_key`), even one the inventory authorizes by TBS hash.
//! - `pending` when that is the only kind of reason and the issuance was first seen less than
//!   the grace period ago: load balancers push their certificate after issuance, while the
//!   precertificate is logged (and seen by us) first.

use std::time::Duration;

use crate::caa::CaaEvidence;
use crate::certspotter::Issuance;
use crate::model::{Alert, AuthorizedBy, Reason, Severity};
use crate::rules::{self, Findings};
use crate::store::Authorized;
use chrono::{DateTime, Utc};

/// The verdict on one issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub severity: Severity,
    pub reasons: Vec<Reason>,
    pub authorized_by: Option<AuthorizedBy>,
    /// For `Pending`: when the grace period ends.
    pub grace_until: Option<DateTime<Utc>>,
}

/// The issuer policies of the watch entries an issuance matched: each entry with a
/// non-empty `allowed_issuers`.
pub type Policies<'a> = [(&'a str, &'a [String])];

/// What the checks besides the inventory's verdict found about an issuance: the key's
/// standing in the inventory (compromised, or authorized for other names), its strength, the
/// issuer policy.
pub fn findings(issuance: &Issuance, authorized: &Authorized, policies: &Policies<'_>) -> Findings {
    let issuer = issuance.issuer.as_ref();
    let key = &issuance.pubkey_sha256;
    Findings {
        compromised_key: authorized.compromised.get(key).map(rules::compromised_key),
        key_out_of_scope: key_scope_finding(authorized, key, &issuance.dns_names),
        weak_key: weak_key(issuance),
        unexpected_issuer: rules::unexpected_issuer(
            issuer.and_then(|i| i.friendly_name.as_deref().or(i.name.as_deref())),
            issuer.and_then(|i| i.caa_domains.as_deref()).unwrap_or(&[]),
            policies.iter().copied(),
        ),
        ..Findings::default()
    }
}

/// `key_out_of_scope` when the key is authorized (and not compromised) but bound to names
/// that do not cover every one of the certificate's names.
fn key_scope_finding(
    authorized: &Authorized,
    key: &crate::hash::Sha256Hash,
    dns_names: &[String],
) -> Option<String> {
    if !authorized.pubkeys.contains(key) || authorized.compromised.contains_key(key) {
        return None;
    }
    rules::key_out_of_scope(authorized.bound_keys.get(key)?, dns_names)
}

/// The `weak_key` detail when the certificate's key is weak ([`crate::keys`]). Judged from
/// `cert_der` only when its key is the issuance's (`pubkey_sha256`); no certificate, or one
/// that cannot be read, is no finding (the alert is still raised on its other reasons).
pub fn weak_key(issuance: &Issuance) -> Option<String> {
    let der = issuance.cert_der.as_deref()?;
    let spki = crate::cert::spki_der(der).ok()?;
    if crate::hash::Sha256Hash::digest(spki) != issuance.pubkey_sha256 {
        return None;
    }
    let found = crate::keys::spki_weaknesses(spki);
    (!found.is_empty()).then(|| {
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Classifies an issuance first seen `now`. `grace` zero turns the grace period off (the
/// baseline passes zero: what already exists is reported as it is).
pub fn classify(
    issuance: &Issuance,
    authorized: &Authorized,
    policies: &Policies<'_>,
    grace: Duration,
    now: DateTime<Utc>,
) -> Classification {
    classify_with_caa(issuance, authorized, policies, None, grace, now)
}

/// [`classify`] with the CAA evidence gathered at detection time (`None`: not checked): a
/// violation adds `caa_violation` (critical, at once).
pub fn classify_with_caa(
    issuance: &Issuance,
    authorized: &Authorized,
    policies: &Policies<'_>,
    caa: Option<&CaaEvidence>,
    grace: Duration,
    now: DateTime<Utc>,
) -> Classification {
    let authorized_by = authorized.authorizes(
        &issuance.tbs_sha256,
        &issuance.pubkey_sha256,
        &issuance.dns_names,
    );
    let mut findings = findings(issuance, authorized, policies);
    findings.caa_violation = caa.and_then(crate::caa::violation_detail);
    let reasons = rules::reasons(authorized_by.is_some(), &findings);
    let grace_until = chrono::Duration::from_std(grace)
        .ok()
        .filter(|g| !g.is_zero())
        .and_then(|g| now.checked_add_signed(g));
    let severity = rules::severity(&reasons, grace_until.is_some());
    Classification {
        severity,
        reasons,
        authorized_by,
        grace_until: grace_until.filter(|_| severity == Severity::Pending),
    }
}

/// What the grace re-check decides for a pending alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Authorized in the meantime, or the grace is over: the alert's new verdict.
    Resolved {
        severity: Severity,
        authorized_by: Option<AuthorizedBy>,
        reasons: Vec<Reason>,
    },
    /// Still inside the grace period: look again next run.
    StillPending,
}

pub fn recheck(alert: &Alert, authorized: &Authorized, now: DateTime<Utc>) -> Recheck {
    let authorized_by =
        authorized.authorizes(&alert.tbs_sha256, &alert.pubkey_sha256, &alert.dns_names);
    let compromised = authorized.compromised.get(&alert.pubkey_sha256);
    if authorized_by.is_none()
        && compromised.is_none()
        && alert.grace_until.is_some_and(|until| until > now)
    {
        return Recheck::StillPending;
    }
    let mut reasons = rules::recheck_reasons(&alert.reasons, authorized_by.is_some());
    // Marked compromised while the alert was pending: critical now, grace or not.
    if let Some(mark) = compromised {
        reasons.push(Reason::new(
            crate::model::ReasonCode::CompromisedKey,
            &rules::compromised_key(mark),
        ));
        reasons = rules::normalize(reasons);
    }
    Recheck::Resolved {
        severity: rules::severity(&reasons, false),
        authorized_by,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use crate::hash::Sha256Hash;
    use crate::model::ReasonCode;

    use super::*;
    use crate::fixtures::{alert_for, issuance, pending_alert};

    fn now() -> DateTime<Utc> {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn authorizing(tbs: &[Sha256Hash], keys: &[Sha256Hash]) -> Authorized {
        Authorized {
            tbs: tbs.iter().copied().collect(),
            pubkeys: keys.iter().copied().collect(),
            ..Authorized::default()
        }
    }

    #[test]
    fn authorized_by_tbs_is_info() {
        let i = issuance(1, &["www.example.com"]);
        let c = classify(
            &i,
            &authorizing(&[i.tbs_sha256], &[]),
            &[],
            Duration::from_secs(600),
            now(),
        );
        assert_eq!(c.severity, Severity::Info);
        assert_eq!(c.authorized_by, Some(AuthorizedBy::TbsSha256));
        assert_eq!(c.grace_until, None);
        assert!(c.reasons.is_empty());
    }

    #[test]
    fn authorized_by_key_is_info() {
        let i = issuance(1, &["www.example.com"]);
        let c = classify(
            &i,
            &authorizing(&[], &[i.pubkey_sha256]),
            &[],
            Duration::ZERO,
            now(),
        );
        assert_eq!(c.severity, Severity::Info);
        assert_eq!(c.authorized_by, Some(AuthorizedBy::PubkeySha256));
    }

    #[test]
    fn other_hashes_do_not_authorize() {
        let i = issuance(1, &["www.example.com"]);
        let other = issuance(2, &["www.example.com"]);
        let c = classify(
            &i,
            &authorizing(&[other.tbs_sha256, i.cert_sha256], &[other.pubkey_sha256]),
            &[],
            Duration::ZERO,
            now(),
        );
        assert_eq!(c.severity, Severity::Suspicious);
        assert_eq!(c.authorized_by, None);
        assert_eq!(c.reasons.len(), 1);
        assert_eq!(c.reasons[0].code, ReasonCode::NotInInventory);
    }

    #[test]
    fn unauthorized_within_grace_is_pending_until_grace_ends() {
        let i = issuance(1, &["www.example.com"]);
        let c = classify(
            &i,
            &Authorized::default(),
            &[],
            Duration::from_secs(1800),
            now(),
        );
        assert_eq!(c.severity, Severity::Pending);
        assert_eq!(c.grace_until, Some(now() + chrono::Duration::seconds(1800)));
    }

    /// An issuance of a certificate from `tests/data/weak-keys`.
    fn issuance_of(file: &str) -> Issuance {
        let path = format!(
            "{}/../../tests/data/weak-keys/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let der = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut i = issuance(1, &["www.example.com"]);
        i.pubkey_sha256 = Sha256Hash::digest(crate::cert::spki_der(&der).unwrap());
        i.cert_der = Some(der);
        i
    }

    fn codes(c: &Classification) -> Vec<ReasonCode> {
        c.reasons.iter().map(|r| r.code).collect()
    }

    #[test]
    fn a_weak_key_is_a_reason_authorized_or_not() {
        let i = issuance_of("rsa-1024.der");
        let c = classify(
            &i,
            &authorizing(&[i.tbs_sha256], &[]),
            &[],
            Duration::from_secs(600),
            now(),
        );
        assert_eq!(codes(&c), [ReasonCode::WeakKey]);
        assert_eq!(c.reasons[0].detail, "RSA key of 1024 bits (under 2048)");
        assert_eq!(c.severity, Severity::Suspicious, "even when pushed");
        assert_eq!(c.authorized_by, Some(AuthorizedBy::TbsSha256));
        assert_eq!(c.grace_until, None);

        let roca = issuance_of("rsa-2048-roca.der");
        let c = classify(
            &roca,
            &Authorized::default(),
            &[],
            Duration::from_secs(600),
            now(),
        );
        assert_eq!(codes(&c), [ReasonCode::NotInInventory, ReasonCode::WeakKey]);
        assert_eq!(
            c.severity,
            Severity::Pending,
            "waits for a push like any other"
        );
        // Pushed in time: the weak key stays, and so does the alert.
        let Recheck::Resolved {
            severity, reasons, ..
        } = recheck(
            &alert_for(&roca, &c),
            &authorizing(&[roca.tbs_sha256], &[]),
            now(),
        )
        else {
            panic!("authorized")
        };
        assert_eq!(severity, Severity::Suspicious);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].code, ReasonCode::WeakKey);
    }

    #[test]
    fn ordinary_keys_and_mismatched_certificates_have_no_weak_key() {
        for file in ["rsa-2048.der", "ec-p256.der", "ec-p384.der"] {
            assert_eq!(weak_key(&issuance_of(file)), None, "{file}");
        }
        assert!(weak_key(&issuance_of("ec-secp256k1.der")).is_some());
        // cert_der whose key is not the issuance's key: not judged.
        let mut other = issuance_of("rsa-1024.der");
        other.pubkey_sha256 = Sha256Hash::digest(b"another key");
        assert_eq!(weak_key(&other), None);
        // No certificate, or garbage: no finding, no panic.
        other.cert_der = None;
        assert_eq!(weak_key(&other), None);
        other.cert_der = Some(vec![0x30, 0x03, 0x01]);
        assert_eq!(weak_key(&other), None);
    }

    #[test]
    fn an_unauthorized_certificate_from_a_ca_outside_the_policy_is_unexpected_issuer() {
        let mut i = issuance(1, &["www.example.com"]);
        if let Some(issuer) = i.issuer.as_mut() {
            issuer.caa_domains = Some(vec!["other-ca.example".to_owned()]);
        }
        let le = vec!["letsencrypt.org".to_owned()];
        let policies = [("example.com", le.as_slice())];
        let c = classify(&i, &Authorized::default(), &policies, Duration::ZERO, now());
        assert_eq!(
            codes(&c),
            [ReasonCode::NotInInventory, ReasonCode::UnexpectedIssuer]
        );
        assert_eq!(c.severity, Severity::Suspicious);
        assert!(
            c.reasons[1]
                .detail
                .contains("example.com allows letsencrypt.org")
        );

        // Pushed: your own deployment chose that CA, no alert reason.
        let c = classify(
            &i,
            &authorizing(&[i.tbs_sha256], &[]),
            &policies,
            Duration::ZERO,
            now(),
        );
        assert!(c.reasons.is_empty());
        assert_eq!(c.severity, Severity::Info);

        // From an allowed CA: only not_in_inventory.
        if let Some(issuer) = i.issuer.as_mut() {
            issuer.caa_domains = Some(vec!["letsencrypt.org".to_owned()]);
        }
        let c = classify(&i, &Authorized::default(), &policies, Duration::ZERO, now());
        assert_eq!(codes(&c), [ReasonCode::NotInInventory]);
    }

    fn marked(by: &str) -> crate::model::Compromise {
        crate::model::Compromise {
            at: now(),
            by: by.to_owned(),
            note: Some("key leaked".to_owned()),
        }
    }

    fn scoped_key(key: Sha256Hash, names: &[&str]) -> Authorized {
        let mut a = authorizing(&[], &[key]);
        a.bound_keys
            .insert(key, names.iter().map(|n| n.to_string()).collect());
        a
    }

    #[test]
    fn a_scoped_key_authorizes_inside_its_names_and_is_out_of_scope_elsewhere() {
        let inside = issuance(1, &["shop.example.com", "www.shop.example.com"]);
        let c = classify(
            &inside,
            &scoped_key(inside.pubkey_sha256, &["shop.example.com"]),
            &[],
            Duration::ZERO,
            now(),
        );
        assert_eq!(c.severity, Severity::Info);
        assert_eq!(c.authorized_by, Some(AuthorizedBy::PubkeySha256));

        // One SAN outside the key's scope: the key does not authorize it.
        let outside = issuance(2, &["shop.example.com", "admin.example.com"]);
        let scoped = scoped_key(outside.pubkey_sha256, &["shop.example.com"]);
        let c = classify(&outside, &scoped, &[], Duration::from_secs(600), now());
        assert_eq!(
            codes(&c),
            [ReasonCode::NotInInventory, ReasonCode::KeyOutOfScope]
        );
        assert!(c.reasons[1].detail.contains("admin.example.com"));
        assert_eq!(
            c.severity,
            Severity::Pending,
            "waits for a push like any other"
        );
        assert_eq!(
            classify(&outside, &scoped, &[], Duration::ZERO, now()).severity,
            Severity::Suspicious
        );
        // The certificate itself pushed: authorized by TBS, the key's scope does not matter.
        let mut both = scoped.clone();
        both.tbs.insert(outside.tbs_sha256);
        let c = classify(&outside, &both, &[], Duration::ZERO, now());
        assert_eq!(c.severity, Severity::Info);
        assert_eq!(c.authorized_by, Some(AuthorizedBy::TbsSha256));
    }

    #[test]
    fn a_compromised_key_is_critical_even_when_the_certificate_is_authorized() {
        let i = issuance(1, &["www.example.com"]);
        // Pushed by TBS hash and its key authorized: still critical.
        let mut a = authorizing(&[i.tbs_sha256], &[i.pubkey_sha256]);
        a.compromised.insert(i.pubkey_sha256, marked("ops"));
        let c = classify(&i, &a, &[], Duration::from_secs(600), now());
        assert_eq!(codes(&c), [ReasonCode::CompromisedKey]);
        assert_eq!(c.severity, Severity::Critical);
        assert!(c.reasons[0].detail.contains("by ops: key leaked"));
        // Only the key: a compromised key authorizes nothing, and there is no grace.
        a.tbs.clear();
        let c = classify(&i, &a, &[], Duration::from_secs(600), now());
        assert_eq!(c.authorized_by, None);
        assert_eq!(
            codes(&c),
            [ReasonCode::NotInInventory, ReasonCode::CompromisedKey]
        );
        assert_eq!(c.severity, Severity::Critical);
        assert_eq!(c.grace_until, None);
    }

    #[test]
    fn a_key_marked_compromised_during_the_grace_period_makes_the_alert_critical() {
        let alert = pending_alert(1, now() + chrono::Duration::minutes(10));
        let mut a = Authorized::default();
        a.compromised.insert(alert.pubkey_sha256, marked("ops"));
        let Recheck::Resolved {
            severity, reasons, ..
        } = recheck(&alert, &a, now())
        else {
            panic!("a compromised key does not wait for the grace period")
        };
        assert_eq!(severity, Severity::Critical);
        assert_eq!(
            reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
            [ReasonCode::NotInInventory, ReasonCode::CompromisedKey]
        );
    }

    #[test]
    fn recheck_resolves_by_inventory_then_by_time() {
        let alert = pending_alert(1, now() + chrono::Duration::minutes(10));
        let nothing = Authorized::default();
        assert_eq!(recheck(&alert, &nothing, now()), Recheck::StillPending);
        let Recheck::Resolved {
            severity, reasons, ..
        } = recheck(&alert, &nothing, now() + chrono::Duration::minutes(10))
        else {
            panic!("grace is over")
        };
        assert_eq!(severity, Severity::Suspicious);
        assert_eq!(reasons[0].code, ReasonCode::NotInInventory);
        let by_key = authorizing(&[], &[alert.pubkey_sha256]);
        assert_eq!(
            recheck(&alert, &by_key, now()),
            Recheck::Resolved {
                severity: Severity::Info,
                authorized_by: Some(AuthorizedBy::PubkeySha256),
                reasons: vec![],
            }
        );
    }
}
