//! Proof that the monitor is still watching (rules in [`ctguard::watching`]):
//!
//! - The canary entry (`CANARY_DOMAIN`) is kept on the watch list; a canary that has had no
//!   new issuance for `CANARY_WINDOW` raises a `health` alert ("monitor blind").
//! - A pushed certificate with embedded SCTs that has not been seen in CT `NOT_LOGGED_WINDOW`
//!   after its push, while one of its names is watched, raises a `health` alert.
//! - Coverage: the largest lag since an entry last caught up goes into the run report (EMF
//!   `MaxEntryLagSeconds`).

use chrono::{DateTime, SecondsFormat, Utc};
use ctguard::hash::Sha256Hash;
use ctguard::model::{BackfillMode, InventoryCert, WatchEntry};
use ctguard::store::{AlertStore as _, InventoryStore as _, WatchStore as _};
use ctguard::watching;
use serde_json::json;
use tracing::{error, info, warn};

use crate::health::{self, HealthKind, HealthMessage};
use crate::report::{RunError, RunReport};
use crate::run::{Poller, PollerDeps, chrono_duration};

/// Certificates pushed longer ago than the window plus this are no longer checked (a run that
/// was down for a week still catches up on them; older ones were checked then).
const NOT_LOGGED_LOOKBACK_DAYS: i64 = 7;
/// Certificates checked per run.
const NOT_LOGGED_BATCH: u32 = 100;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl<D: PollerDeps> Poller<D> {
    /// Adds the configured canary entry when the watch list lacks it (the simplest seed: the
    /// deployed configuration says which canary to keep; deleting it through the API does not
    /// stick, turning `CANARY_DOMAIN` off does).
    pub(crate) async fn seed_canary(&self, entries: &mut Vec<WatchEntry>, report: &mut RunReport) {
        let Some(domain) = &self.settings.canary_domain else {
            return;
        };
        if let Some(existing) = entries.iter().find(|e| &e.domain == domain) {
            if !existing.canary {
                warn!(%domain, "CANARY_DOMAIN is on the watch list as an ordinary entry: not a canary");
            }
            return;
        }
        let mut entry = WatchEntry::new(
            domain.clone(),
            Some("canary (CANARY_DOMAIN)".to_owned()),
            BackfillMode::Summary,
            self.now(),
        );
        entry.canary = true;
        match self.store.create_watch(&entry).await {
            Ok(_) => {
                info!(%domain, "canary entry added");
                entries.push(entry);
            }
            Err(source) => report.error(RunError::SeedCanary {
                domain: domain.clone(),
                source,
            }),
        }
    }

    /// Records that a pushed certificate was seen in CT (first time wins). A failure is
    /// logged; the not-logged check falls back on the stored alert.
    pub(crate) async fn mark_ct_seen(
        &self,
        tbs: &Sha256Hash,
        at: DateTime<Utc>,
        report: &mut RunReport,
    ) {
        if let Err(source) = self.store.mark_ct_seen(tbs, at).await {
            report.error(RunError::MarkCtSeen { tbs: *tbs, source });
        }
    }

    /// After polling: coverage, canaries, pushed-but-never-logged certificates. Returns the
    /// watch list it read (for the expiry check), `None` if it could not.
    pub(crate) async fn check_watching(&self, report: &mut RunReport) -> Option<Vec<WatchEntry>> {
        let entries = match self.store.list_watches().await {
            Ok(entries) => entries,
            Err(e) => {
                report.error(RunError::HealthWatches(e));
                return None;
            }
        };
        let now = self.now();
        if let Some(coverage) = watching::coverage(&entries, now) {
            report.max_entry_lag_seconds = coverage.max_lag_seconds.max(0) as u64;
            report.oldest_entry = Some(coverage.oldest_entry.to_string());
        }
        self.check_canaries(&entries, now, report).await;
        self.check_not_logged(&entries, now, report).await;
        Some(entries)
    }

    async fn check_canaries(
        &self,
        entries: &[WatchEntry],
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) {
        let window = chrono_duration(self.settings.canary_window);
        for entry in entries.iter().filter(|e| e.canary) {
            if !watching::canary_blind(entry, now, window) {
                continue;
            }
            report.canary_blind += 1;
            if !watching::blind_alert_due(entry, now, window) {
                continue;
            }
            let since = watching::canary_silent_since(entry);
            let message = HealthMessage::new(
                HealthKind::CanaryBlind,
                entry.domain.as_str(),
                format!(
                    "monitor blind: no canary issuance since {} for {}",
                    time(since),
                    entry.domain
                ),
                json!({
                    "canary": entry.domain,
                    "last_issuance_at": entry.canary_last_issuance_at,
                    "silent_since": since,
                    "window_hours": window.num_hours(),
                    "last_polled_at": entry.last_polled_at,
                    "last_error": entry.last_error,
                    "rate_limited_until": entry.rate_limited_until,
                }),
            );
            error!(domain = %entry.domain, since = %time(since), "monitor blind: no canary issuance");
            if self.send_health(&message, report).await
                && let Err(source) = self.store.record_blind_alert(&entry.domain, now).await
            {
                report.error(RunError::RecordBlind {
                    domain: entry.domain.clone(),
                    source,
                });
            }
        }
    }

    async fn check_not_logged(
        &self,
        entries: &[WatchEntry],
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) {
        let window = chrono_duration(self.settings.not_logged_window);
        // A window too large to subtract (a huge setting) means nothing is due yet.
        let Some(until) = now.checked_sub_signed(window) else {
            return;
        };
        let from = until
            .checked_sub_signed(chrono::Duration::days(NOT_LOGGED_LOOKBACK_DAYS))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let candidates = match self
            .store
            .list_unlogged(from, until, NOT_LOGGED_BATCH)
            .await
        {
            Ok(candidates) if candidates.is_empty() => return,
            Ok(candidates) => candidates,
            Err(e) => {
                report.error(RunError::ListUnlogged(e));
                return;
            }
        };
        let index = ctguard::watching::match_index(entries);
        for cert in candidates {
            // ctguard only looks at watched domains: other names cannot be expected in its view.
            let matched = index.matches(&cert.dns_names);
            let Some(primary) = matched.first() else {
                continue;
            };
            // The alerts table is the record of every issuance seen (one alert per TBS hash).
            match self.store.get_alert(&cert.tbs_sha256).await {
                Ok(Some(alert)) => {
                    self.mark_ct_seen(&cert.tbs_sha256, alert.first_seen_at, report)
                        .await;
                    continue;
                }
                Ok(None) => {}
                Err(source) => {
                    report.error(RunError::ReadAlert {
                        tbs: cert.tbs_sha256,
                        source,
                    });
                    continue;
                }
            }
            report.pushed_not_logged += 1;
            let message = not_logged_message(&cert, primary.entry.as_str(), window);
            warn!(tbs = %cert.tbs_sha256, domain = %primary.entry, "pushed certificate never seen in CT");
            if self.send_health(&message, report).await
                && let Err(source) = self
                    .store
                    .mark_not_logged_alerted(&cert.tbs_sha256, now)
                    .await
            {
                report.error(RunError::RecordNotLogged {
                    tbs: cert.tbs_sha256,
                    source,
                });
            }
        }
    }

    /// `true` when every configured channel accepted the message.
    async fn send_health(&self, message: &HealthMessage, report: &mut RunReport) -> bool {
        match health::send(self.publisher.as_ref(), self.mailer.as_ref(), message).await {
            Ok(()) => {
                report.health_alerts_sent += 1;
                true
            }
            Err(source) => {
                report.error(RunError::HealthAlert {
                    domain: message.domain.clone(),
                    source,
                });
                false
            }
        }
    }
}

fn not_logged_message(
    cert: &InventoryCert,
    domain: &str,
    window: chrono::Duration,
) -> HealthMessage {
    let names = cert
        .dns_names
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    HealthMessage::new(
        HealthKind::PushedNotLogged,
        domain,
        format!(
            "pushed certificate never seen in CT for {domain}: {names} (TBS {})",
            cert.tbs_sha256.to_hex()
        ),
        json!({
            "tbs_sha256": cert.tbs_sha256,
            "cert_sha256": cert.cert_sha256,
            "dns_names": cert.dns_names.iter().take(100).collect::<Vec<_>>(),
            "issuer": cert.issuer,
            "source": cert.source,
            "pushed_at": cert.added_at,
            "window_hours": window.num_hours(),
        }),
    )
}
