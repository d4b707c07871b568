//! The run report (returned by the handler, printed by `--once`, logged) and its CloudWatch
//! Embedded Metric Format line.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use ctguard::certspotter::FetchError;
use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::Channel;
use ctguard::store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::health::NotDelivered;

/// A failure a run handles and carries on from (or stops on), one variant per kind, with its
/// typed cause. Its `Display` says what the run was doing, its `source()` why it failed;
/// [`RunReport::error`] logs it once, where it is handled, and lists it in the report as
/// "<what>: <cause>".
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot list pending alerts")]
    ListPending(#[source] StoreError),
    #[error("inventory lookup for pending alerts")]
    PendingLookup(#[source] StoreError),
    #[error("resolving pending {tbs}")]
    ResolvePending { tbs: Sha256Hash, source: StoreError },
    #[error("cannot list watch entries")]
    ListWatches(#[source] StoreError),
    /// Logged at warn: the entry is simply polled again next run.
    #[error("{domain}: Cert Spotter query failed")]
    Query {
        domain: WatchDomain,
        source: QueryFailure,
    },
    #[error("{domain}: store failed mid-page (cursor left where it was)")]
    StoreMidPage {
        domain: WatchDomain,
        source: StoreError,
    },
    #[error("{domain}: cannot record poll status (store unavailable, stopping)")]
    RecordPoll {
        domain: WatchDomain,
        source: StoreError,
    },
    #[error("cannot add the canary entry {domain}")]
    SeedCanary {
        domain: WatchDomain,
        source: StoreError,
    },
    /// Logged at warn: the not-logged check falls back on the stored alert.
    #[error("cannot record when the pushed certificate {tbs} was seen in CT")]
    MarkCtSeen { tbs: Sha256Hash, source: StoreError },
    #[error("cannot list watch entries for the health checks")]
    HealthWatches(#[source] StoreError),
    #[error("{domain}: recording the blind alert")]
    RecordBlind {
        domain: WatchDomain,
        source: StoreError,
    },
    #[error("cannot list pushed certificates not seen in CT")]
    ListUnlogged(#[source] StoreError),
    #[error("cannot read the alert of {tbs}")]
    ReadAlert { tbs: Sha256Hash, source: StoreError },
    #[error("{tbs}: cannot record the not-logged alert")]
    RecordNotLogged { tbs: Sha256Hash, source: StoreError },
    #[error("health alert for {domain}")]
    HealthAlert {
        domain: String,
        source: NotDelivered,
    },
    #[error("expiry check failed (retried next run)")]
    Expiry(#[source] StoreError),
    #[error("cannot list undelivered alerts")]
    ListUndelivered(#[source] StoreError),
    #[error("cannot read this run's alerts (the outbox delivers them later)")]
    ReadRunAlerts(#[source] StoreError),
    #[error("cannot claim {channel:?} of {alerts} alerts")]
    Claim {
        channel: Channel,
        alerts: usize,
        source: StoreError,
    },
    #[error("cannot record {channel:?} of {alerts} alerts")]
    Record {
        channel: Channel,
        alerts: usize,
        source: StoreError,
    },
    #[error("cannot list watch entries (baseline summaries wait)")]
    BaselineWatches(#[source] StoreError),
    #[error("{domain}: cannot list the baseline's alerts")]
    BaselineAlerts {
        domain: WatchDomain,
        source: StoreError,
    },
}

/// Why a Cert Spotter query left an entry where it was (other than a stop: 429, budget,
/// deadline). Its text is also the entry's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum QueryFailure {
    /// API errors, 5xx after retries, timeouts, transport, garbage.
    #[error(transparent)]
    Fetch(FetchError),
    /// The page's last issuance id could not be stored as the cursor.
    #[error("issuance id of {0} bytes is too long to store as a cursor")]
    CursorTooLong(usize),
}

impl RunError {
    /// A failure that costs nothing but a retry: logged at warn, not error.
    fn is_warning(&self) -> bool {
        matches!(self, Self::Query { .. } | Self::MarkCtSeen { .. })
    }

    /// The cause, as the report and the log line show it.
    fn cause(&self) -> String {
        std::error::Error::source(self).map_or_else(String::new, ToString::to_string)
    }
}

/// Why polling stopped before every entry was caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    RateLimited,
    BudgetExhausted,
    Deadline,
    /// The store failed in a way that makes continuing pointless.
    StoreUnavailable,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub info: u32,
    pub pending: u32,
    pub suspicious: u32,
    pub critical: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub entries_total: u32,
    /// Entries whose issuances were fetched this run (caught up or not).
    pub entries_polled: u32,
    /// Entries caught up with the API.
    pub entries_caught_up: u32,
    /// Entries not reached (stop reason, or rate limited from an earlier run).
    pub entries_skipped: u32,
    /// Entries that stopped on an error (recorded in their poll status).
    pub entries_failed: u32,
    /// Entries stuck after this run: `STUCK_AFTER_RUNS` polls in a row without progress.
    pub entries_stuck: u32,
    /// Cert Spotter queries (pages) spent.
    pub queries_used: u32,
    pub issuances_seen: u32,
    pub alerts_created: SeverityCounts,
    /// Reduced alerts stored because the full alert was refused (counted in `alerts_created`).
    pub alerts_reduced: u32,
    /// Pending alerts re-checked into info / suspicious.
    pub pending_resolved: SeverityCounts,
    pub deliveries_ok: u32,
    /// Attempts that failed and stay queued for a later run.
    pub deliveries_failed: u32,
    /// Deliveries given up after the last attempt or rejected by the service (logged at error).
    pub deliveries_gave_up: u32,
    /// Deliveries the service throttled: released, still queued, no attempt spent.
    pub deliveries_throttled: u32,
    pub baselines_completed: u32,
    /// Why polling stopped before every entry was caught up (the first reason).
    pub stop_reason: Option<StopReason>,
    /// Everything that stopped work early this run, polling or delivery (the delivery step
    /// stops at the deadline too): the `RateLimited` / `StoppedBy*` metrics.
    pub stopped_by: BTreeSet<StopReason>,
    /// Seconds since the entry that caught up longest ago last caught up (canaries excluded).
    pub max_entry_lag_seconds: u64,
    /// That entry.
    pub oldest_entry: Option<String>,
    /// Canary entries with no issuance within the window (the monitor may be blind).
    pub canary_blind: u32,
    /// Pushed certificates with SCTs found never logged by this run.
    pub pushed_not_logged: u32,
    /// `health` alerts sent by this run.
    pub health_alerts_sent: u32,
    /// `expiring` alerts this run created (also counted in `alerts_created`).
    pub expiring_alerts: u32,
    /// CAA at detection time: unauthorized issuances checked, DNS queries sent, queries
    /// answered from the run's cache, names whose lookup failed (`lookup_failed`).
    pub caa_issuances_checked: u32,
    pub caa_lookups: u32,
    pub caa_cache_hits: u32,
    pub caa_lookup_failures: u32,
    /// The run could not do its job (e.g. the store is down); the handler returns an error.
    pub failed: bool,
    pub errors: Vec<String>,
}

impl RunReport {
    pub fn new(run_id: String, started_at: DateTime<Utc>) -> Self {
        Self {
            run_id,
            started_at,
            finished_at: started_at,
            entries_total: 0,
            entries_polled: 0,
            entries_caught_up: 0,
            entries_skipped: 0,
            entries_failed: 0,
            entries_stuck: 0,
            queries_used: 0,
            issuances_seen: 0,
            alerts_created: SeverityCounts::default(),
            alerts_reduced: 0,
            pending_resolved: SeverityCounts::default(),
            deliveries_ok: 0,
            deliveries_failed: 0,
            deliveries_gave_up: 0,
            deliveries_throttled: 0,
            baselines_completed: 0,
            stop_reason: None,
            stopped_by: BTreeSet::new(),
            max_entry_lag_seconds: 0,
            oldest_entry: None,
            canary_blind: 0,
            pushed_not_logged: 0,
            health_alerts_sent: 0,
            expiring_alerts: 0,
            caa_issuances_checked: 0,
            caa_lookups: 0,
            caa_cache_hits: 0,
            caa_lookup_failures: 0,
            failed: false,
            errors: Vec::new(),
        }
    }

    /// Adds what polling one entry counted (`part`, a report of that entry alone) to this
    /// run's report. The first stop reason stays.
    pub(crate) fn absorb_entry(&mut self, part: RunReport) {
        self.entries_polled += part.entries_polled;
        self.entries_caught_up += part.entries_caught_up;
        self.entries_skipped += part.entries_skipped;
        self.entries_failed += part.entries_failed;
        self.entries_stuck += part.entries_stuck;
        self.issuances_seen += part.issuances_seen;
        self.alerts_created.info += part.alerts_created.info;
        self.alerts_created.pending += part.alerts_created.pending;
        self.alerts_created.suspicious += part.alerts_created.suspicious;
        // Dropping it hid critical alerts from AlertsSuspicious / AlertsCritical (and so from
        // SuspiciousAlertAlarm); the keys end-to-end test caught it.
        self.alerts_created.critical += part.alerts_created.critical;
        self.alerts_reduced += part.alerts_reduced;
        self.baselines_completed += part.baselines_completed;
        if let Some(reason) = part.stop_reason {
            self.stop(reason);
        }
        self.errors.extend(part.errors);
    }

    /// A failure the run handles and carries on from: logged here, once (at error, or warn
    /// for those that cost nothing but a retry), and listed in the report's `errors` in the
    /// same words ("<what>: <cause>").
    pub(crate) fn error(&mut self, error: RunError) {
        let cause = error.cause();
        if error.is_warning() {
            tracing::warn!(error = %cause, "{error}");
        } else {
            tracing::error!(error = %cause, "{error}");
        }
        self.errors.push(format!("{error}: {cause}"));
    }

    /// Polling stopped for `reason` (the first reason stays `stop_reason`).
    pub fn stop(&mut self, reason: StopReason) {
        self.stop_reason.get_or_insert(reason);
        self.stopped_by.insert(reason);
        if reason == StopReason::StoreUnavailable {
            self.failed = true;
        }
    }

    /// Whether anything in this run stopped early for `reason`.
    pub fn stopped(&self, reason: StopReason) -> bool {
        self.stopped_by.contains(&reason)
    }

    /// One CloudWatch Embedded Metric Format record (namespace `ctguard`, dimension
    /// `Function=poller`): print it as one line on stdout and CloudWatch extracts the metrics.
    ///
    /// `AlertsInfo` and `AlertsSuspicious` count the alerts that reached that verdict in this
    /// run: new ones, and pending ones resolved (pushed in time, or grace over). The
    /// suspicious-alert alarm watches `AlertsSuspicious`, so a certificate that turns suspicious
    /// when its grace ends must count there; `critical` ones count there too (suspicious or
    /// worse), and on their own in `AlertsCritical`. `AlertsPending` counts new pending alerts.
    pub fn emf(&self) -> Value {
        let metrics: [(&str, u32); 22] = [
            ("EntriesPolled", self.entries_polled),
            ("EntriesCaughtUp", self.entries_caught_up),
            ("EntriesSkipped", self.entries_skipped),
            ("EntriesFailed", self.entries_failed),
            ("EntriesStuck", self.entries_stuck),
            ("QueriesUsed", self.queries_used),
            ("IssuancesSeen", self.issuances_seen),
            (
                "AlertsInfo",
                self.alerts_created.info + self.pending_resolved.info,
            ),
            ("AlertsPending", self.alerts_created.pending),
            ("AlertsReduced", self.alerts_reduced),
            (
                "AlertsSuspicious",
                self.alerts_created.suspicious
                    + self.pending_resolved.suspicious
                    + self.alerts_created.critical
                    + self.pending_resolved.critical,
            ),
            (
                "AlertsCritical",
                self.alerts_created.critical + self.pending_resolved.critical,
            ),
            (
                "PendingResolved",
                self.pending_resolved.info
                    + self.pending_resolved.suspicious
                    + self.pending_resolved.critical,
            ),
            ("DeliveriesOk", self.deliveries_ok),
            ("DeliveriesFailed", self.deliveries_failed),
            ("DeliveriesGaveUp", self.deliveries_gave_up),
            ("DeliveriesThrottled", self.deliveries_throttled),
            (
                "RateLimited",
                u32::from(self.stopped(StopReason::RateLimited)),
            ),
            (
                "StoppedByDeadline",
                u32::from(self.stopped(StopReason::Deadline)),
            ),
            (
                "StoppedByBudget",
                u32::from(self.stopped(StopReason::BudgetExhausted)),
            ),
            ("RunFailed", u32::from(self.failed)),
            ("ExpiringAlerts", self.expiring_alerts),
        ];
        // Proof of watching (canary, never-logged pushes, coverage lag).
        let watching: [(&str, &str, u64); 3] = [
            ("CanaryBlind", "Count", u64::from(self.canary_blind)),
            (
                "PushedNotLogged",
                "Count",
                u64::from(self.pushed_not_logged),
            ),
            ("MaxEntryLagSeconds", "Seconds", self.max_entry_lag_seconds),
        ];
        let mut record = Map::new();
        record.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.finished_at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "ctguard",
                    "Dimensions": [["Function"]],
                    "Metrics": metrics
                        .iter()
                        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                        .chain(watching.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        record.insert("Function".to_owned(), json!("poller"));
        record.insert("RunId".to_owned(), json!(self.run_id));
        for (name, value) in metrics {
            record.insert(name.to_owned(), json!(value));
        }
        for (name, _, value) in watching {
            record.insert(name.to_owned(), json!(value));
        }
        Value::Object(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind of handled error is listed as "<what>: <cause>", in the words the report has
    /// always used (operators and alarms read them).
    #[test]
    fn handled_errors_are_listed_in_the_reports_words() {
        use crate::notify::NotifyError;
        let store = || StoreError::Backend {
            operation: "Query",
            message: "down".into(),
        };
        let tbs = Sha256Hash::digest(b"x");
        let domain = WatchDomain::parse("example.com").unwrap();
        let mut report = RunReport::new("r".into(), Utc::now());
        report.error(RunError::ListPending(store()));
        report.error(RunError::ResolvePending {
            tbs,
            source: store(),
        });
        report.error(RunError::Query {
            domain: domain.clone(),
            source: QueryFailure::CursorTooLong(1200),
        });
        report.error(RunError::Query {
            domain: domain.clone(),
            source: QueryFailure::Fetch(FetchError::ServerError {
                status: 503,
                attempts: 2,
            }),
        });
        report.error(RunError::Claim {
            channel: Channel::Email,
            alerts: 3,
            source: store(),
        });
        report.error(RunError::RecordBlind {
            domain: domain.clone(),
            source: store(),
        });
        report.error(RunError::HealthAlert {
            domain: "example.com".into(),
            source: NotDelivered {
                sns: Some(NotifyError::Throttled("Rate exceeded".into())),
                email: Some(NotifyError::Failed("SES is down".into())),
            },
        });
        report.error(RunError::HealthAlert {
            domain: "example.com".into(),
            source: NotDelivered {
                sns: None,
                email: Some(NotifyError::Failed("SES is down".into())),
            },
        });
        let failed = "Query failed: down";
        assert_eq!(
            report.errors,
            [
                format!("cannot list pending alerts: {failed}"),
                format!("resolving pending {tbs}: {failed}"),
                "example.com: Cert Spotter query failed: issuance id of 1200 bytes is too long \
                 to store as a cursor"
                    .to_owned(),
                format!(
                    "example.com: Cert Spotter query failed: {}",
                    FetchError::ServerError {
                        status: 503,
                        attempts: 2
                    }
                ),
                format!("cannot claim Email of 3 alerts: {failed}"),
                format!("example.com: recording the blind alert: {failed}"),
                format!(
                    "health alert for example.com: SNS: {}; email: {}",
                    NotifyError::Throttled("Rate exceeded".into()),
                    NotifyError::Failed("SES is down".into())
                ),
                format!(
                    "health alert for example.com: email: {}",
                    NotifyError::Failed("SES is down".into())
                ),
            ]
        );
    }

    #[test]
    fn emf_declares_every_metric_it_carries() {
        let mut report = RunReport::new("r1".into(), Utc::now());
        report.alerts_created.suspicious = 3;
        report.stop(StopReason::Deadline);
        let emf = report.emf();
        let declared = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert!(!declared.is_empty());
        for metric in declared {
            let name = metric["Name"].as_str().unwrap();
            assert!(emf[name].is_u64(), "{name} declared but not set");
        }
        assert_eq!(emf["AlertsSuspicious"], 3);
        assert_eq!(emf["StoppedByDeadline"], 1);
        assert_eq!(emf["Function"], "poller");
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ctguard");
    }

    #[test]
    fn alerts_turned_suspicious_at_grace_expiry_count_as_suspicious() {
        let mut report = RunReport::new("r2".into(), Utc::now());
        report.alerts_created.suspicious = 1;
        report.alerts_created.pending = 4;
        report.pending_resolved.suspicious = 2;
        report.pending_resolved.info = 3;
        let emf = report.emf();
        assert_eq!(emf["AlertsSuspicious"], 3, "new 1 + grace expired 2");
        assert_eq!(emf["AlertsInfo"], 3, "pushed in time");
        assert_eq!(emf["AlertsPending"], 4);
        assert_eq!(emf["PendingResolved"], 5);
    }

    #[test]
    fn first_stop_reason_wins() {
        let mut report = RunReport::new("r".into(), Utc::now());
        report.stop(StopReason::RateLimited);
        report.stop(StopReason::Deadline);
        assert_eq!(report.stop_reason, Some(StopReason::RateLimited));
        assert!(report.stopped(StopReason::RateLimited) && report.stopped(StopReason::Deadline));
    }
}
