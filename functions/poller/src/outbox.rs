//! Step 4: the outbox. Every alert is stored with a per-channel delivery state; this step sends
//! what is `Queued` and records the outcome, so a failed send is retried by a later run.
//!
//! - Each alert+channel is claimed (a lease) before sending: overlapping runs never send the
//!   same notification twice. A run that dies after sending but before recording lets the
//!   lease expire and the alert is sent again: delivery is at least once.
//! - The outbox is read in batches (`outbox_batch`, oldest first) until a batch brings nothing
//!   new to claim or the deadline nears. A run tries each alert+channel at most once.
//! - The alerts this run created or resolved ([`FreshAlerts`]) are read with consistent reads
//!   of the table and delivered in this run, whether or not the outbox index (which lags
//!   behind writes in DynamoDB) shows them yet.
//! - Batched (issue 13 §2): claims and records go to the store `delivery_batch` alert+channel
//!   pairs at a time (DynamoDB: one transaction each), and SNS messages go out by
//!   PublishBatch, at most 10 and 256 KiB per request. A chunk is claimed, sent and recorded
//!   before the next is claimed, so a crash re-sends at most one chunk (at least once).
//!   `delivery_batch` = 1 is the unbatched path: one claim, Publish and record per alert.
//! - SNS: one message per alert. Email: one message per `outbox_batch` claimed alerts, so one
//!   per run unless a run delivers more.
//! - Held back, not claimed: `pending` alerts (inside the grace period), and baseline alerts,
//!   which go out in one summary per entry ([`crate::baseline`]).
//! - Failures by kind ([`NotifyError`]): a throttled channel rests for the rest of the run (what
//!   it had claimed is released without spending an attempt; nothing more is claimed on it); a
//!   message the service rejected is marked failed at once; any other failure stays queued,
//!   and after `max_delivery_attempts` failures the channel is marked failed and logged at error.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ctguard::delivery::Skip;
use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Channel, DeliveryState, Severity, WatchEntry};
use ctguard::store::AlertStore as _;
use ctguard::store::{DeliveryRecord, DeliveryResult};
use tokio::time::Instant;
use tracing::{error, warn};

use crate::baseline::Baselines;
use crate::fresh::FreshAlerts;
use crate::message::{alert_sns, run_email};
use crate::notify::{Mailer, NotifyError, Publisher, SNS_BATCH_BYTES, SNS_BATCH_MAX, SnsMessage};
use crate::report::{RunError, RunReport, StopReason};
use crate::run::{Poller, PollerDeps};

impl<D: PollerDeps> Poller<D> {
    /// `watched`: the watch list as the run read it after polling (`None`: it could not; the
    /// baseline summaries then list it once themselves).
    pub(crate) async fn deliver(
        &self,
        report: &mut RunReport,
        fresh: FreshAlerts,
        deadline: Instant,
        watched: Option<&[WatchEntry]>,
    ) {
        let batch = self.settings.outbox_batch;
        let mut outbox = Outbox {
            poller: self,
            report,
            deadline,
            fresh,
            attempted: HashSet::new(),
            finished: HashSet::new(),
            summarized: HashSet::new(),
            resting: HashSet::new(),
            claims: 0,
            baselines: watched.map(|entries| Arc::new(Baselines::new(entries))),
        };
        loop {
            if outbox.out_of_time() {
                return;
            }
            let (queued, listed) = match self.store.list_undelivered(batch).await {
                Ok(queued) => (queued, true),
                Err(e) => {
                    outbox.report.error(RunError::ListUndelivered(e));
                    // What this run holds is still delivered.
                    (Vec::new(), false)
                }
            };
            let full_batch = listed && queued.len() >= batch as usize;
            let (baseline, regular): (Vec<Alert>, Vec<Alert>) = outbox
                .with_fresh(queued)
                .await
                .into_iter()
                .filter(|a| a.severity != Severity::Pending)
                .partition(|a| a.baseline);
            let claims_before = outbox.claims;
            outbox.regular_sns(&regular).await;
            // The run's own alerts may make this list longer than a batch: keep emails to one
            // per batch of alerts.
            for chunk in regular.chunks(batch.max(1) as usize) {
                outbox.regular_email(chunk).await;
            }
            if !baseline.is_empty() {
                outbox.baseline_summaries(&baseline).await;
            }
            // Stop when the outbox is drained and the run's own alerts are all handed out, or
            // when this batch held nothing new (held back, leased by another run, or already
            // tried by this run).
            if outbox.fresh.has_waiting() {
                continue;
            }
            if !full_batch || outbox.claims == claims_before {
                return;
            }
        }
    }
}

/// The delivery step of one run.
pub(crate) struct Outbox<'a, D: PollerDeps> {
    pub(crate) poller: &'a Poller<D>,
    pub(crate) report: &'a mut RunReport,
    deadline: Instant,
    /// What this run created or resolved: delivered without waiting for the outbox index.
    pub(crate) fresh: FreshAlerts,
    /// Alert+channel pairs this run already handled (a failure is retried by a later run).
    attempted: HashSet<(Sha256Hash, Channel)>,
    /// Alert+channel pairs this run recorded as final (sent, skipped, failed for good): the
    /// other channel's record knows the outbox attribute may go.
    finished: HashSet<(Sha256Hash, Channel)>,
    /// Entries whose baseline summary this run already handled.
    pub(crate) summarized: HashSet<WatchDomain>,
    /// Channels the service throttled: nothing more is sent on them this run.
    pub(crate) resting: HashSet<Channel>,
    /// Successful claims so far (progress marker for the batch loop).
    claims: usize,
    /// Which entries completed their baseline (read once per run; see [`crate::baseline`]).
    pub(crate) baselines: Option<Arc<Baselines>>,
}

impl<D: PollerDeps> Outbox<'_, D> {
    /// An outbox batch with the run's own alerts: those the index listed, re-read (the
    /// index's copy may be stale), and then as many others as fit in a batch. If the read
    /// fails they stay queued for a later run's outbox.
    async fn with_fresh(&mut self, from_index: Vec<Alert>) -> Vec<Alert> {
        let limit = self.poller.settings.outbox_batch.max(1) as usize;
        let ours = self.fresh.take_for_batch(&from_index, limit);
        let re_read: HashSet<&Sha256Hash> = ours.iter().collect();
        let mut batch: Vec<Alert> = from_index
            .into_iter()
            .filter(|a| !re_read.contains(&a.tbs_sha256))
            .collect();
        batch.extend(self.read_consistently(&ours).await.unwrap_or_default());
        batch
    }

    /// `None` (logged) if the read failed: those alerts stay queued for a later run.
    pub(crate) async fn read_consistently(&mut self, tbs: &[Sha256Hash]) -> Option<Vec<Alert>> {
        if tbs.is_empty() {
            return Some(Vec::new());
        }
        match self.poller.store.get_alerts(tbs).await {
            Ok(alerts) => Some(alerts),
            Err(e) => {
                self.report.error(RunError::ReadRunAlerts(e));
                None
            }
        }
    }

    pub(crate) fn out_of_time(&mut self) -> bool {
        let late = Instant::now() >= self.deadline;
        if late && !self.report.stopped(StopReason::Deadline) {
            warn!("deadline reached: remaining deliveries stay queued for the next run");
            // Delivery's own stop: polling's `stop_reason` stays as it was.
            self.report.stopped_by.insert(StopReason::Deadline);
        }
        late
    }

    /// Alert+channel pairs per claim/record batch (at least 1).
    fn delivery_batch(&self) -> usize {
        self.poller.settings.delivery_batch.max(1) as usize
    }

    async fn regular_sns(&mut self, alerts: &[Alert]) {
        let todo = self.wanted(alerts, Channel::Sns).await;
        let Some(publisher) = &self.poller.publisher else {
            return;
        };
        let per_request = self.delivery_batch().min(SNS_BATCH_MAX);
        for chunk in todo.chunks(self.delivery_batch()) {
            if self.out_of_time() || self.resting.contains(&Channel::Sns) {
                return;
            }
            let claimed = self.claim_all(chunk, Channel::Sns).await;
            let messages: Vec<SnsMessage> = claimed.iter().map(alert_sns).collect();
            let mut outcomes = Vec::with_capacity(messages.len());
            for group in sns_requests(&messages, per_request) {
                // Throttled by an earlier request of this chunk: the rest waits too.
                if let Some(Err(e @ NotifyError::Throttled(_))) = outcomes.last() {
                    let e: NotifyError = e.clone();
                    outcomes.extend(group.iter().map(|_| Err(e.clone())));
                    continue;
                }
                if let [message] = group {
                    outcomes.push(publisher.publish(message).await);
                } else {
                    outcomes.extend(publisher.publish_batch(group).await);
                }
            }
            let results = claimed.into_iter().zip(outcomes).collect();
            self.record_all(Channel::Sns, results).await;
        }
    }

    async fn regular_email(&mut self, alerts: &[Alert]) {
        // A pending alert that turned out authorized is queued again by the store; the policy
        // leaves it out of the email.
        let todo = self.wanted(alerts, Channel::Email).await;
        let Some(mailer) = &self.poller.mailer else {
            return;
        };
        if todo.is_empty() || self.out_of_time() || self.resting.contains(&Channel::Email) {
            return;
        }
        let claimed = self.claim_all(&todo, Channel::Email).await;
        if claimed.is_empty() {
            return;
        }
        // One email for the batch (SES takes one message per request either way).
        let result = mailer.send(&run_email(&claimed)).await;
        let results = claimed
            .into_iter()
            .map(|alert| (alert, result.clone()))
            .collect();
        self.record_all(Channel::Email, results).await;
    }

    /// Claims `channel` of the alerts this run has not tried yet, `delivery_batch` at a time;
    /// returns those claimed. A failed claim batch is logged and its alerts stay queued.
    pub(crate) async fn claim_all(&mut self, alerts: &[&Alert], channel: Channel) -> Vec<Alert> {
        let fresh: Vec<&Alert> = alerts
            .iter()
            .copied()
            .filter(|a| self.attempted.insert((a.tbs_sha256, channel)))
            .collect();
        let now = self.poller.now();
        let lease = chrono::Duration::from_std(self.poller.settings.delivery_lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let mut claimed = Vec::with_capacity(fresh.len());
        for chunk in fresh.chunks(self.delivery_batch()) {
            let hashes: Vec<Sha256Hash> = chunk.iter().map(|a| a.tbs_sha256).collect();
            match self
                .poller
                .store
                .claim_deliveries(&hashes, channel, &self.report.run_id, now, now + lease)
                .await
            {
                Ok(answers) => {
                    for (alert, ok) in chunk.iter().zip(answers) {
                        if ok {
                            claimed.push((*alert).clone());
                        }
                    }
                }
                Err(source) => self.report.error(RunError::Claim {
                    channel,
                    alerts: chunk.len(),
                    source,
                }),
            }
        }
        self.claims += claimed.len();
        claimed
    }

    /// Marks `channel` skipped (not sent by design) on these alerts.
    /// The alerts queued on `channel` that the delivery policy wants sent there; the others
    /// are recorded as skipped, with the policy's reason.
    pub(crate) async fn wanted<'b>(
        &mut self,
        alerts: &'b [Alert],
        channel: Channel,
    ) -> Vec<&'b Alert> {
        let policy = self.poller.policy;
        let mut skipped: HashMap<Skip, Vec<&Alert>> = HashMap::new();
        let mut todo = Vec::new();
        for alert in alerts.iter().filter(|a| queued(a, channel)) {
            match policy.decide(channel, alert.severity, alert.baseline) {
                Ok(()) => todo.push(alert),
                Err(skip) => skipped.entry(skip).or_default().push(alert),
            }
        }
        for (skip, alerts) in skipped {
            self.skip_all(&alerts, channel, skip.reason()).await;
        }
        todo
    }

    async fn skip_all(&mut self, alerts: &[&Alert], channel: Channel, reason: &str) {
        if alerts.is_empty() {
            return;
        }
        let at = self.poller.now();
        let claimed = self.claim_all(alerts, channel).await;
        let records = claimed
            .into_iter()
            .map(|alert| {
                let result = DeliveryResult::Skipped {
                    reason: reason.to_owned(),
                    at,
                };
                (alert, result)
            })
            .collect();
        self.store_results(channel, records).await;
    }

    /// Records each claimed alert's outcome (counted in the report).
    pub(crate) async fn record_all(
        &mut self,
        channel: Channel,
        outcomes: Vec<(Alert, Result<String, NotifyError>)>,
    ) {
        let at = self.poller.now();
        // Stored on the alert: bounded like every other text on it (an SDK error carries the
        // whole raw response).
        let stored = |e: &NotifyError| {
            ctguard::bounds::clip_text(&e.to_string(), ctguard::bounds::TEXT_MAX_BYTES)
        };
        let mut records = Vec::with_capacity(outcomes.len());
        for (alert, outcome) in outcomes {
            let result = match outcome {
                Ok(message_id) => {
                    self.report.deliveries_ok += 1;
                    DeliveryResult::Sent {
                        message_id: Some(message_id).filter(|id| !id.is_empty()),
                        at,
                    }
                }
                Err(e @ NotifyError::Throttled(_)) => {
                    if self.resting.insert(channel) {
                        warn!(?channel, error = %e, "throttled: the channel rests until the next run");
                    }
                    self.report.deliveries_throttled += 1;
                    DeliveryResult::Deferred {
                        error: stored(&e),
                        at,
                    }
                }
                Err(e) => {
                    let attempts = alert.delivery(channel).attempts + 1;
                    let rejected = matches!(e, NotifyError::Rejected(_));
                    let give_up =
                        rejected || attempts >= self.poller.settings.max_delivery_attempts;
                    if give_up {
                        self.report.deliveries_gave_up += 1;
                        error!(
                            tbs = %alert.tbs_sha256, ?channel, attempts, rejected, error = %e,
                            "delivery failed for the last time: marked failed"
                        );
                    } else {
                        self.report.deliveries_failed += 1;
                        warn!(
                            tbs = %alert.tbs_sha256, ?channel, attempts, error = %e,
                            "delivery failed: stays queued for the next run"
                        );
                    }
                    DeliveryResult::Failed {
                        error: stored(&e),
                        at,
                        give_up,
                    }
                }
            };
            records.push((alert, result));
        }
        self.store_results(channel, records).await;
    }

    async fn store_results(&mut self, channel: Channel, results: Vec<(Alert, DeliveryResult)>) {
        let other = match channel {
            Channel::Sns => Channel::Email,
            Channel::Email => Channel::Sns,
        };
        let records: Vec<DeliveryRecord> = results
            .into_iter()
            .map(|(alert, result)| DeliveryRecord {
                tbs: alert.tbs_sha256,
                other_queued: queued(&alert, other)
                    && !self.finished.contains(&(alert.tbs_sha256, other)),
                result,
            })
            .collect();
        for chunk in records.chunks(self.delivery_batch()) {
            match self
                .poller
                .store
                .record_deliveries(channel, &self.report.run_id, chunk)
                .await
            {
                Ok(()) => {
                    for record in chunk.iter().filter(|r| final_result(&r.result)) {
                        self.finished.insert((record.tbs, channel));
                    }
                }
                // The leases expire and a later run retries: possibly a duplicate, never a loss.
                Err(source) => self.report.error(RunError::Record {
                    channel,
                    alerts: chunk.len(),
                    source,
                }),
            }
        }
    }
}

fn final_result(result: &DeliveryResult) -> bool {
    match result {
        DeliveryResult::Sent { .. } | DeliveryResult::Skipped { .. } => true,
        DeliveryResult::Failed { give_up, .. } => *give_up,
        DeliveryResult::Deferred { .. } => false,
    }
}

/// Consecutive groups of at most `per_request` messages and [`SNS_BATCH_BYTES`] together:
/// one PublishBatch each (a message over the limit alone still goes, on its own).
fn sns_requests(messages: &[SnsMessage], per_request: usize) -> Vec<&[SnsMessage]> {
    let per_request = per_request.max(1);
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, message) in messages.iter().enumerate() {
        let size = message.payload_bytes();
        if i > start && (i - start == per_request || bytes + size > SNS_BATCH_BYTES) {
            groups.push(&messages[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < messages.len() {
        groups.push(&messages[start..]);
    }
    groups
}

pub(crate) fn queued(alert: &Alert, channel: Channel) -> bool {
    alert.delivery(channel).state == DeliveryState::Queued
}
