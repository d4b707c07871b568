//! Baseline summaries: the alerts a watch entry's first poll finds (backfill `summary`) are
//! held back until every entry they matched has completed its baseline; then one summary per
//! entry (SNS and email) covers all of that entry's baseline alerts still in the outbox.
//!
//! - A certificate that matched several entries is listed in each of their summaries; its
//!   channel counts as sent only when every one of them was sent (else all are retried: at
//!   least once).
//! - What it reads: the watch list the run already read after polling (which entries completed
//!   their baseline), and per entry its queued baseline alerts from the outbox
//!   ([`AlertStore::list_outbox_baseline`]: the sparse `outbox` index, never the whole alert
//!   history), with the run's own alerts read consistently.
//! - One summary covers at most [`BASELINE_SUMMARY_MAX`] alerts per entry, the newest; the
//!   older ones stay queued and make the next run's summary (memory and claims stay bounded
//!   for an entry with a huge backfill; nothing is dropped).
//! - Claims, leases, failures and records are the outbox's ([`crate::outbox`]).
//!
//! [`AlertStore::list_outbox_baseline`]: ctguard::store::AlertStore::list_outbox_baseline

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Channel, Severity, WatchEntry};
use ctguard::store::{AlertStore as _, WatchStore as _};
use tracing::info;

use crate::message::{BaselineSummary, baseline_email, baseline_sns};
use crate::notify::{Mailer, NotifyError, Publisher};
use crate::outbox::{Outbox, queued};
use crate::report::RunError;
use crate::run::PollerDeps;

/// The most baseline alerts one entry's summary covers in one run (5,000 alerts: 50 claim
/// transactions per channel; the message itself lists at most
/// [`crate::message::SUMMARY_LIST_MAX`] and counts the rest).
pub const BASELINE_SUMMARY_MAX: u32 = 5_000;

impl<D: PollerDeps> Outbox<'_, D> {
    /// Sends the summaries of the entries whose baseline alerts are ready: every entry they
    /// matched has completed its baseline. An entry's summary covers all of its queued
    /// baseline alerts, not only those in this outbox batch, and a certificate is in the
    /// summary of every entry it matched; so the entries summarized together are closed
    /// under "shares a ready certificate with".
    pub(super) async fn baseline_summaries(&mut self, alerts: &[Alert]) {
        let mut todo: BTreeSet<WatchDomain> = alerts
            .iter()
            .flat_map(|a| &a.matched)
            .map(|m| m.entry.clone())
            .filter(|entry| !self.summarized.contains(entry))
            .collect();
        if todo.is_empty() {
            return;
        }
        let Some(baselines) = self.baselines().await else {
            return;
        };
        let ready = |a: &Alert| a.matched.iter().all(|m| baselines.completed(&m.entry));
        // Only entries with a ready alert in this batch start a pass.
        todo.retain(|entry| {
            alerts
                .iter()
                .any(|a| ready(a) && a.matched.iter().any(|m| &m.entry == entry))
        });
        let mut entries = BTreeSet::new();
        // In the order listed (newest first): a summary cut at its list limit keeps the newest.
        let mut group: Vec<Alert> = Vec::new();
        let mut grouped: HashSet<Sha256Hash> = HashSet::new();
        while let Some(entry) = todo.pop_first() {
            self.summarized.insert(entry.clone());
            entries.insert(entry.clone());
            let Some(found) = self.entry_baseline_alerts(&entry).await else {
                return; // listed again by a later run
            };
            for alert in found.into_iter().filter(|a| ready(a)) {
                for m in &alert.matched {
                    if !self.summarized.contains(&m.entry) {
                        todo.insert(m.entry.clone());
                    }
                }
                if grouped.insert(alert.tbs_sha256) {
                    group.push(alert);
                }
            }
        }
        self.summaries_on(Channel::Sns, &entries, &group).await;
        self.summaries_on(Channel::Email, &entries, &group).await;
    }

    /// Which entries completed their baseline: the watch list the run read after polling,
    /// or (if it could not) one listing for the whole delivery step, not one per batch.
    async fn baselines(&mut self) -> Option<Arc<Baselines>> {
        if let Some(baselines) = &self.baselines {
            return Some(baselines.clone());
        }
        match self.poller.store.list_watches().await {
            Ok(entries) => {
                let baselines = Arc::new(Baselines::new(&entries));
                self.baselines = Some(baselines.clone());
                Some(baselines)
            }
            Err(e) => {
                self.report.error(RunError::BaselineWatches(e));
                None
            }
        }
    }

    /// Every queued baseline alert that matched `domain`: the outbox's (an index), with this
    /// run's own alerts merged in (the index may not show them yet).
    async fn entry_baseline_alerts(&mut self, domain: &WatchDomain) -> Option<Vec<Alert>> {
        let listed = match self
            .poller
            .store
            .list_outbox_baseline(domain, BASELINE_SUMMARY_MAX)
            .await
        {
            Ok(listed) => listed,
            Err(source) => {
                self.report.error(RunError::BaselineAlerts {
                    domain: domain.clone(),
                    source,
                });
                return None;
            }
        };
        // The run's own baseline alerts for this entry, read consistently, replace the
        // index's copies and add those it does not show yet.
        let ours = self.fresh.baseline_of(domain).to_vec();
        let mut group = self.read_consistently(&ours).await?;
        let re_read: HashSet<&Sha256Hash> = ours.iter().collect();
        group.extend(
            listed
                .into_iter()
                .filter(|a| !re_read.contains(&a.tbs_sha256)),
        );
        let group = group
            .into_iter()
            .filter(|a| {
                a.baseline
                    && a.severity != Severity::Pending
                    && a.matched.iter().any(|m| &m.entry == domain)
                    && (queued(a, Channel::Sns) || queued(a, Channel::Email))
            })
            // The run's own (the newest) first, then the index's, newest first.
            .take(BASELINE_SUMMARY_MAX as usize)
            .collect();
        Some(group)
    }

    /// One summary per entry on `channel`, each over the claimed alerts that matched it.
    async fn summaries_on(
        &mut self,
        channel: Channel,
        entries: &BTreeSet<WatchDomain>,
        alerts: &[Alert],
    ) {
        let todo = self.wanted(alerts, channel).await;
        if todo.is_empty() || self.out_of_time() || self.resting.contains(&channel) {
            return;
        }
        let claimed = self.claim_all(&todo, channel).await;
        if claimed.is_empty() {
            return;
        }
        let mut sent: HashMap<&WatchDomain, Result<String, NotifyError>> = HashMap::new();
        let mut throttled = false;
        for domain in entries {
            let covered: Vec<Alert> = claimed
                .iter()
                .filter(|a| a.matched.iter().any(|m| &m.entry == domain))
                .cloned()
                .collect();
            if covered.is_empty() {
                continue;
            }
            if throttled {
                // Throttled by an earlier summary: its alerts are released, not failed.
                let rest = NotifyError::Throttled("not sent: the channel was throttled".into());
                sent.insert(domain, Err(rest));
                continue;
            }
            let summary = BaselineSummary::new(domain.as_str(), &covered, self.poller.now());
            let result = match (channel, &self.poller.publisher, &self.poller.mailer) {
                (Channel::Sns, Some(publisher), _) => {
                    publisher.publish(&baseline_sns(&summary)).await
                }
                (Channel::Email, _, Some(mailer)) => mailer.send(&baseline_email(&summary)).await,
                _ => return,
            };
            match &result {
                Ok(_) => {
                    info!(%domain, ?channel, certificates = covered.len(), "baseline summary sent")
                }
                // The channel starts resting (and is logged) in `record_all`.
                Err(NotifyError::Throttled(_)) => throttled = true,
                Err(_) => {}
            }
            sent.insert(domain, result);
        }
        let mut results = Vec::with_capacity(claimed.len());
        for alert in &claimed {
            // Its first failed summary if any (retried later, with every summary listing it),
            // else its first entry's message.
            let outcomes: Vec<&Result<String, NotifyError>> = alert
                .matched
                .iter()
                .filter_map(|m| sent.get(&m.entry))
                .collect();
            let outcome = outcomes
                .iter()
                .find(|r| r.is_err())
                .or_else(|| outcomes.first())
                .map(|r| (*r).clone())
                .unwrap_or_else(|| Err(NotifyError::Failed("no summary listed it".to_owned())));
            results.push((alert.clone(), outcome));
        }
        self.record_all(channel, results).await;
    }
}

/// Which watch entries exist, and which have completed their baseline.
pub(super) struct Baselines {
    watched: HashSet<WatchDomain>,
    completed: HashSet<WatchDomain>,
}

impl Baselines {
    pub(super) fn new(entries: &[WatchEntry]) -> Self {
        Self {
            watched: entries.iter().map(|e| e.domain.clone()).collect(),
            completed: entries
                .iter()
                .filter(|e| e.baseline_completed_at.is_some())
                .map(|e| e.domain.clone())
                .collect(),
        }
    }

    /// Entries deleted mid-baseline count as complete (they never will be, and their alerts
    /// must not wait forever).
    fn completed(&self, entry: &WatchDomain) -> bool {
        self.completed.contains(entry) || !self.watched.contains(entry)
    }
}
