//! Severity rules, pure: no I/O, no clock (the caller passes `now`).
//!
//! - `info` when the inventory authorizes the issuance, by TBS hash (this exact certificate or
//!   its precertificate) or by public-key hash (any certificate for a deployed key); a record
//!   bound to names (a key, or a hash-only push) only when every name of the issuance lies
//!   under its names.
//! - `pending` when it is not authorized yet but was first seen less than the grace period ago:
//!   load balancers push their certificate after issuance, while the precertificate is logged
//!   (and seen by us) first.
//! - `suspicious` otherwise.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ctguard::certspotter::Issuance;
use ctguard::model::{Alert, AuthorizedBy, Severity};
use ctguard::store::Authorized;

/// The verdict on one issuance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub severity: Severity,
    pub authorized_by: Option<AuthorizedBy>,
    /// For `Pending`: when the grace period ends.
    pub grace_until: Option<DateTime<Utc>>,
}

/// Classifies an issuance first seen `now`. `grace` zero turns the grace period off (the
/// baseline passes zero: what already exists is reported as it is).
pub fn classify(
    issuance: &Issuance,
    authorized: &Authorized,
    grace: Duration,
    now: DateTime<Utc>,
) -> Classification {
    if let Some(by) = authorized.authorizes(
        &issuance.tbs_sha256,
        &issuance.pubkey_sha256,
        &issuance.dns_names,
    ) {
        return Classification {
            severity: Severity::Info,
            authorized_by: Some(by),
            grace_until: None,
        };
    }
    let grace_until = chrono::Duration::from_std(grace)
        .ok()
        .filter(|g| !g.is_zero())
        .and_then(|g| now.checked_add_signed(g));
    Classification {
        severity: if grace_until.is_some() {
            Severity::Pending
        } else {
            Severity::Suspicious
        },
        authorized_by: None,
        grace_until,
    }
}

/// What the grace re-check decides for a pending alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    /// Authorized in the meantime.
    Info(AuthorizedBy),
    /// Grace is over and still not authorized.
    Suspicious,
    /// Still inside the grace period: look again next run.
    StillPending,
}

pub fn recheck(alert: &Alert, authorized: &Authorized, now: DateTime<Utc>) -> Recheck {
    if let Some(by) =
        authorized.authorizes(&alert.tbs_sha256, &alert.pubkey_sha256, &alert.dns_names)
    {
        Recheck::Info(by)
    } else if alert.grace_until.is_none_or(|until| until <= now) {
        Recheck::Suspicious
    } else {
        Recheck::StillPending
    }
}

#[cfg(test)]
mod tests {
    use ctguard::hash::Sha256Hash;

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
        assert_eq!(
            recheck(&alert, &nothing, now() + chrono::Duration::minutes(10)),
            Recheck::Suspicious
        );
        let by_key = authorizing(&[], &[alert.pubkey_sha256]);
        assert_eq!(
            recheck(&alert, &by_key, now()),
            Recheck::Info(AuthorizedBy::PubkeySha256)
        );
    }
}
