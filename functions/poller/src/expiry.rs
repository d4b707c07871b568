//! Expiry without renewal (issue 10 §5; rules in [`ctguard::rules`]): a deployed certificate
//! whose `not_after` is within `EXPIRY_WARNING` (and again within `EXPIRY_FINAL_WARNING`) while
//! no later pushed certificate serves each of its names raises one `expiring` alert per stage.
//!
//! Cost per run, whatever the inventory's size: one Query of the sparse **by-expiry** index
//! (at most [`EXPIRY_BATCH`] names), one BatchGetItem of their wildcard parents' records, one
//! BatchGetItem of the due alerts (reruns find them and stop there); only a new alert costs
//! more (one GetItem of its certificate, and the alert's create). The issuance path is
//! untouched: no request per issuance.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use ctguard::bounds::bound_alert;
use ctguard::hash::Sha256Hash;
use ctguard::matcher::WatchIndex;
use ctguard::model::{
    Alert, AuthorizedBy, Deployed, InventoryCert, IssuerInfo, Reason, ReasonCode, WatchEntry,
};
use ctguard::rules::{self, ExpiryDue};
use ctguard::store::{AlertStore as _, InventoryStore as _};
use tracing::info;

use crate::fresh::FreshAlerts;
use crate::report::{RunError, RunReport};
use crate::run::{Poller, PollerDeps, chrono_duration, count};

/// Names read per run (soonest expiry first): the bound of the run's expiry cost. More names
/// expiring at once than this are reached by the next runs as the first ones are renewed or
/// expire.
pub const EXPIRY_BATCH: u32 = 100;

/// A hash that is not known for the record (a hash-only push has no certificate hash, maybe
/// no key hash): all zeros in the alert.
const UNKNOWN: Sha256Hash = Sha256Hash([0; 32]);

impl<D: PollerDeps> Poller<D> {
    /// Raises the `expiring` alerts due now (stored, then delivered by this run).
    pub(crate) async fn check_expiry(
        &self,
        entries: &[WatchEntry],
        report: &mut RunReport,
        fresh: &mut FreshAlerts,
    ) {
        if self.settings.expiry_warning.is_zero() {
            return;
        }
        if let Err(e) = self.try_check_expiry(entries, report, fresh).await {
            report.error(RunError::Expiry(e));
        }
    }

    async fn try_check_expiry(
        &self,
        entries: &[WatchEntry],
        report: &mut RunReport,
        fresh: &mut FreshAlerts,
    ) -> Result<(), ctguard::store::StoreError> {
        let now = self.now();
        let first = chrono_duration(self.settings.expiry_warning);
        let second = chrono_duration(self.settings.expiry_final_warning);
        let until = now
            .checked_add_signed(first)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let window = self.store.list_expiring(now, until, EXPIRY_BATCH).await?;
        if window.is_empty() {
            return Ok(());
        }
        let parents: Vec<String> = distinct_names(
            window
                .iter()
                .filter_map(|d| rules::wildcard_parent(&d.name)),
        );
        let parents: Vec<Deployed> = if parents.is_empty() {
            Vec::new()
        } else {
            self.store.get_deployed(&parents).await?
        };
        let due = rules::expiry_due(&window, &parents, now, first, second);
        if due.is_empty() {
            return Ok(());
        }
        let ids: Vec<Sha256Hash> = due
            .iter()
            .map(|d| rules::expiring_alert_id(&d.tbs_sha256, d.stage))
            .collect();
        let existing: HashSet<Sha256Hash> = self
            .store
            .get_alerts(&ids)
            .await?
            .into_iter()
            .map(|a| a.tbs_sha256)
            .collect();
        let index = ctguard::watching::match_index(entries);
        let mut alerts = Vec::new();
        for (d, id) in due.iter().zip(ids) {
            // Raised already; or no unrenewed name is watched (no read for what is not reported).
            if existing.contains(&id) || index.matches(&d.unrenewed).is_empty() {
                continue;
            }
            // Deleted since (its names' records go with it): nothing to warn about.
            let Some(cert) = self.store.get_cert(&d.tbs_sha256).await? else {
                continue;
            };
            if let Some(alert) = self.expiring_alert(id, d, &cert, &index, now) {
                alerts.push(alert);
            }
        }
        if alerts.is_empty() {
            return Ok(());
        }
        let created = self.store.create_alerts(&alerts).await?;
        for (alert, created) in alerts.iter().zip(created) {
            if !created {
                continue;
            }
            report.expiring_alerts += 1;
            count(&mut report.alerts_created, alert.severity);
            info!(
                alert = %alert.tbs_sha256,
                not_after = %alert.not_after,
                domain = crate::message::primary_domain(alert),
                "deployed certificate expiring without a renewal"
            );
            fresh.remember(alert);
        }
        Ok(())
    }

    /// The alert for one due certificate; `None` when none of its names is watched (ctguard
    /// reports only about watched domains, and a message names its entry).
    fn expiring_alert(
        &self,
        id: Sha256Hash,
        due: &ExpiryDue,
        cert: &InventoryCert,
        index: &WatchIndex,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        let matched = index.matches(&cert.dns_names);
        let primary = matched.first()?.entry.clone();
        let reasons = vec![Reason::new(
            ReasonCode::Expiring,
            &rules::expiring_detail(&due.unrenewed, due.not_after, now),
        )];
        let severity = rules::severity(&reasons, false);
        let (sns, email) = self.policy.initial(severity, false);
        let mut alert = Alert {
            tbs_sha256: id,
            // The inventory record this alert is about (its TBS hash).
            issuance_id: format!("inventory:{}", cert.tbs_sha256),
            cert_sha256: cert.cert_sha256.unwrap_or(UNKNOWN),
            pubkey_sha256: cert.pubkey_sha256.unwrap_or(UNKNOWN),
            dns_names: cert.dns_names.clone(),
            matched,
            names_total: None,
            names_truncated: false,
            matched_names_total: None,
            matched_truncated: false,
            reduced: None,
            issuer: IssuerInfo {
                friendly_name: cert.issuer.clone(),
                ..IssuerInfo::default()
            },
            not_before: cert.not_before.unwrap_or(cert.added_at),
            not_after: due.not_after,
            revoked: false,
            problem_reporting: None,
            severity,
            reasons,
            authorized_by: Some(AuthorizedBy::TbsSha256),
            first_seen_at: now,
            classified_at: now,
            grace_until: None,
            caa: None,
            baseline: false,
            sns,
            email,
            ack: None,
            expires_at: self.alert_expiry(now),
        };
        bound_alert(&mut alert, &primary);
        Some(alert)
    }
}

fn distinct_names(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names.filter(|n| seen.insert(n.clone())).collect()
}
