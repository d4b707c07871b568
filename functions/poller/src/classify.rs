//! Classification of one issuance, pure: no I/O, no clock (the caller passes `now`). The
//! facts come from here (inventory, key and issuer checks); what they mean (reasons and
//! severity) is decided by [`ctguard::rules`], the one place the rules live.
//!
//! - Authorized when the inventory authorizes the issuance, by TBS hash (this exact
//!   certificate or its precertificate) or by public-key hash (any certificate for a deployed
//!   key); a record bound to names (a key, or a hash-only push) only when every name of the
//!   issuance lies under its names. Otherwise `not_in_inventory`.
//! - `pending` when that is the only kind of reason and the issuance was first seen less than
//!   the grace period ago: load balancers push their certificate after issuance, while the
//!   precertificate is logged (and seen by us) first.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ctguard::certspotter::Issuance;
use ctguard::model::{Alert, AuthorizedBy, Reason, Severity};
use ctguard::rules::{self, Findings};
use ctguard::store::Authorized;

/// The verdict on one issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub severity: Severity,
    pub reasons: Vec<Reason>,
    pub authorized_by: Option<AuthorizedBy>,
    /// For `Pending`: when the grace period ends.
    pub grace_until: Option<DateTime<Utc>>,
}

/// What the checks besides the inventory found about an issuance.
pub fn findings(_issuance: &Issuance) -> Findings {
    Findings::default()
}

/// Classifies an issuance first seen `now`. `grace` zero turns the grace period off (the
/// baseline passes zero: what already exists is reported as it is).
pub fn classify(
    issuance: &Issuance,
    authorized: &Authorized,
    grace: Duration,
    now: DateTime<Utc>,
) -> Classification {
    let authorized_by = authorized.authorizes(
        &issuance.tbs_sha256,
        &issuance.pubkey_sha256,
        &issuance.dns_names,
    );
    let reasons = rules::reasons(authorized_by.is_some(), &findings(issuance));
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
    if authorized_by.is_none() && alert.grace_until.is_some_and(|until| until > now) {
        return Recheck::StillPending;
    }
    let reasons = rules::recheck_reasons(&alert.reasons, authorized_by.is_some());
    Recheck::Resolved {
        severity: rules::severity(&reasons, false),
        authorized_by,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use ctguard::hash::Sha256Hash;
    use ctguard::model::ReasonCode;

    use super::*;
    use crate::testutil::{issuance, pending_alert};

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
        let c = classify(&i, &Authorized::default(), Duration::from_secs(1800), now());
        assert_eq!(c.severity, Severity::Pending);
        assert_eq!(c.grace_until, Some(now() + chrono::Duration::seconds(1800)));
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
