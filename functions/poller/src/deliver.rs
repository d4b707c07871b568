//! Step 4: the outbox. Every alert is stored with a per-channel delivery state; this step sends
//! what is `Queued` and records the outcome, so a failed send is retried by a later run.
//!
//! - Each alert+channel is claimed (a lease) before sending: overlapping runs never send the
//!   same notification twice. A run that dies after sending but before recording lets the
//!   lease expire and the alert is sent again: delivery is at least once.
//! - The outbox is read in batches (`outbox_batch`, oldest first) until a batch brings nothing
//!   new to claim or the deadline nears. A run tries each alert+channel at most once.
//! - SNS: one message per alert. Email: one message per batch listing every claimed alert, so
//!   one per run unless a run delivers more than a batch.
//! - Held back, not claimed: `pending` alerts (inside the grace period), and baseline alerts
//!   until every entry they matched has completed its baseline; then one summary per entry
//!   (SNS and email) covers all of that entry's baseline alerts.
//! - After `max_delivery_attempts` failures a channel is marked failed and logged at error.

use std::collections::{BTreeSet, HashSet};

use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Channel, DeliveryState, Severity};
use ctguard::store::{
    AlertFilter, AlertStore, DeliveryResult, InventoryStore, PageRequest, WatchStore,
};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::message::{
    BaselineSummary, alert_sns, baseline_email, baseline_sns, primary_domain, run_email,
};
use crate::notify::{Mailer, NotifyError, Publisher};
use crate::report::RunReport;
use crate::run::Poller;
use crate::source::IssuanceSource;

impl<S, C, P, M> Poller<S, C, P, M>
where
    S: WatchStore + InventoryStore + AlertStore + 'static,
    C: IssuanceSource,
    P: Publisher,
    M: Mailer,
{
    pub(crate) async fn deliver(&self, report: &mut RunReport, deadline: Instant) {
        let batch = self.settings.outbox_batch;
        let mut outbox = Outbox {
            poller: self,
            report,
            deadline,
            attempted: HashSet::new(),
            summarized: HashSet::new(),
            claims: 0,
        };
        loop {
            if outbox.out_of_time() {
                return;
            }
            let queued = match self.store.list_undelivered(batch).await {
                Ok(queued) => queued,
                Err(e) => {
                    error!(error = %e, "cannot list undelivered alerts");
                    outbox
                        .report
                        .errors
                        .push(format!("listing undelivered alerts: {e}"));
                    return;
                }
            };
            let full_batch = queued.len() >= batch as usize;
            let (baseline, regular): (Vec<Alert>, Vec<Alert>) = queued
                .into_iter()
                .filter(|a| a.severity != Severity::Pending)
                .partition(|a| a.baseline);
            let claims_before = outbox.claims;
            outbox.regular_sns(&regular).await;
            outbox.regular_email(&regular).await;
            if !baseline.is_empty() {
                outbox.baseline_summaries(&baseline).await;
            }
            // Stop when the outbox is drained, or when this batch held nothing new (held back,
            // leased by another run, or already tried by this run).
            if !full_batch || outbox.claims == claims_before {
                return;
            }
        }
    }
}

/// The delivery step of one run.
struct Outbox<'a, S, C, P, M> {
    poller: &'a Poller<S, C, P, M>,
    report: &'a mut RunReport,
    deadline: Instant,
    /// Alert+channel pairs this run already handled (a failure is retried by a later run).
    attempted: HashSet<(Sha256Hash, Channel)>,
    /// Entries whose baseline summary this run already handled.
    summarized: HashSet<WatchDomain>,
    /// Successful claims so far (progress marker for the batch loop).
    claims: usize,
}

impl<S, C, P, M> Outbox<'_, S, C, P, M>
where
    S: WatchStore + InventoryStore + AlertStore + 'static,
    C: IssuanceSource,
    P: Publisher,
    M: Mailer,
{
    fn out_of_time(&mut self) -> bool {
        let late = Instant::now() >= self.deadline;
        if late && !self.report.stopped_by_deadline {
            warn!("deadline reached: remaining deliveries stay queued for the next run");
            self.report.stopped_by_deadline = true;
        }
        late
    }

    async fn regular_sns(&mut self, alerts: &[Alert]) {
        for alert in alerts.iter().filter(|a| queued(a, Channel::Sns)) {
            if self.out_of_time() {
                return;
            }
            let Some(publisher) = &self.poller.publisher else {
                self.skip(alert, Channel::Sns, "SNS is not configured")
                    .await;
                continue;
            };
            if !self.claim(alert, Channel::Sns).await {
                continue;
            }
            let result = publisher.publish(&alert_sns(alert)).await;
            self.record(alert, Channel::Sns, result).await;
        }
    }

    async fn regular_email(&mut self, alerts: &[Alert]) {
        let include_info = self.poller.settings.email_include_info;
        let mut claimed = Vec::new();
        for alert in alerts.iter().filter(|a| queued(a, Channel::Email)) {
            if self.out_of_time() {
                break;
            }
            if self.poller.mailer.is_none() {
                self.skip(alert, Channel::Email, "email is not configured")
                    .await;
            } else if alert.severity == Severity::Info && !include_info {
                // A pending alert that turned out authorized: the email lists suspicious ones.
                self.skip(alert, Channel::Email, "info alerts are not emailed")
                    .await;
            } else if self.claim(alert, Channel::Email).await {
                claimed.push(alert.clone());
            }
        }
        let Some(mailer) = &self.poller.mailer else {
            return;
        };
        if claimed.is_empty() {
            return;
        }
        let result = mailer.send(&run_email(&claimed)).await;
        for alert in &claimed {
            self.record(alert, Channel::Email, result.clone()).await;
        }
    }

    /// Sends one summary per entry whose baseline alerts are ready: every entry they matched
    /// has completed its baseline. The summary covers all of the entry's queued baseline
    /// alerts, not only those in this outbox batch.
    async fn baseline_summaries(&mut self, alerts: &[Alert]) {
        let candidates: HashSet<&str> = alerts
            .iter()
            .map(primary_domain)
            .filter(|d| !self.summarized.iter().any(|s| s.as_str() == *d))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let completed = match self.completed_baselines(alerts).await {
            Some(completed) => completed,
            None => return,
        };
        let mut ready: BTreeSet<WatchDomain> = BTreeSet::new();
        for alert in alerts {
            let all_done = alert.matched.iter().all(|m| completed.contains(&m.entry));
            if let (true, Some(primary)) = (all_done, alert.matched.first())
                && !self.summarized.contains(&primary.entry)
            {
                ready.insert(primary.entry.clone());
            }
        }
        for domain in ready {
            self.summarized.insert(domain.clone());
            let Some(group) = self.entry_baseline_alerts(&domain).await else {
                continue;
            };
            self.summary_on(Channel::Sns, &domain, &group).await;
            self.summary_on(Channel::Email, &domain, &group).await;
        }
    }

    /// Entries whose baseline is complete; entries deleted mid-baseline count as complete
    /// (they never will be, and their alerts must not wait forever).
    async fn completed_baselines(&mut self, alerts: &[Alert]) -> Option<HashSet<WatchDomain>> {
        match self.poller.store.list_watches().await {
            Ok(entries) => {
                let watched: HashSet<&WatchDomain> = entries.iter().map(|e| &e.domain).collect();
                let mut done: HashSet<WatchDomain> = entries
                    .iter()
                    .filter(|e| e.baseline_completed_at.is_some())
                    .map(|e| e.domain.clone())
                    .collect();
                for m in alerts.iter().flat_map(|a| &a.matched) {
                    if !watched.contains(&m.entry) {
                        done.insert(m.entry.clone());
                    }
                }
                Some(done)
            }
            Err(e) => {
                error!(error = %e, "cannot list watch entries: baseline summaries wait");
                self.report
                    .errors
                    .push(format!("listing watch entries for summaries: {e}"));
                None
            }
        }
    }

    /// Every queued baseline alert whose primary entry is `domain`.
    async fn entry_baseline_alerts(&mut self, domain: &WatchDomain) -> Option<Vec<Alert>> {
        let filter = AlertFilter {
            domain: Some(domain.clone()),
            ..AlertFilter::default()
        };
        let mut page = PageRequest {
            limit: 100,
            token: None,
        };
        let mut group = Vec::new();
        loop {
            match self.poller.store.list_alerts(&filter, &page).await {
                Ok(result) => {
                    group.extend(result.items.into_iter().filter(|a| {
                        a.baseline
                            && primary_domain(a) == domain.as_str()
                            && (queued(a, Channel::Sns) || queued(a, Channel::Email))
                    }));
                    match result.next_token {
                        Some(token) => page.token = Some(token),
                        None => return Some(group),
                    }
                }
                Err(e) => {
                    error!(%domain, error = %e, "cannot list the baseline's alerts");
                    self.report
                        .errors
                        .push(format!("{domain}: listing baseline alerts: {e}"));
                    return None;
                }
            }
        }
    }

    async fn summary_on(&mut self, channel: Channel, domain: &WatchDomain, alerts: &[Alert]) {
        let configured = match channel {
            Channel::Sns => self.poller.publisher.is_some(),
            Channel::Email => self.poller.mailer.is_some(),
        };
        let mut claimed = Vec::new();
        for alert in alerts.iter().filter(|a| queued(a, channel)) {
            if self.out_of_time() {
                break;
            }
            if !configured {
                self.skip(alert, channel, "channel is not configured").await;
            } else if self.claim(alert, channel).await {
                claimed.push(alert.clone());
            }
        }
        if claimed.is_empty() {
            return;
        }
        let summary = BaselineSummary::new(domain.as_str(), &claimed, self.poller.now());
        let result = match (channel, &self.poller.publisher, &self.poller.mailer) {
            (Channel::Sns, Some(publisher), _) => publisher.publish(&baseline_sns(&summary)).await,
            (Channel::Email, _, Some(mailer)) => mailer.send(&baseline_email(&summary)).await,
            _ => return,
        };
        if result.is_ok() {
            info!(%domain, ?channel, certificates = claimed.len(), "baseline summary sent");
        }
        for alert in &claimed {
            self.record(alert, channel, result.clone()).await;
        }
    }

    async fn claim(&mut self, alert: &Alert, channel: Channel) -> bool {
        if !self.attempted.insert((alert.tbs_sha256, channel)) {
            return false;
        }
        let now = self.poller.now();
        let lease = chrono::Duration::from_std(self.poller.settings.delivery_lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        match self
            .poller
            .store
            .claim_delivery(
                &alert.tbs_sha256,
                channel,
                &self.report.run_id,
                now,
                now + lease,
            )
            .await
        {
            Ok(claimed) => {
                self.claims += usize::from(claimed);
                claimed
            }
            Err(e) => {
                error!(tbs = %alert.tbs_sha256, ?channel, error = %e, "cannot claim delivery");
                self.report
                    .errors
                    .push(format!("claiming {channel:?} of {}: {e}", alert.tbs_sha256));
                false
            }
        }
    }

    async fn skip(&mut self, alert: &Alert, channel: Channel, reason: &str) {
        if !self.claim(alert, channel).await {
            return;
        }
        let result = DeliveryResult::Skipped {
            reason: reason.to_owned(),
            at: self.poller.now(),
        };
        self.store_result(alert, channel, &result).await;
    }

    async fn record(
        &mut self,
        alert: &Alert,
        channel: Channel,
        outcome: Result<String, NotifyError>,
    ) {
        let at = self.poller.now();
        let result = match outcome {
            Ok(message_id) => {
                self.report.deliveries_ok += 1;
                DeliveryResult::Sent {
                    message_id: Some(message_id).filter(|id| !id.is_empty()),
                    at,
                }
            }
            Err(NotifyError(message)) => {
                let attempts = alert.delivery(channel).attempts + 1;
                let give_up = attempts >= self.poller.settings.max_delivery_attempts;
                if give_up {
                    self.report.deliveries_gave_up += 1;
                    error!(
                        tbs = %alert.tbs_sha256, ?channel, attempts, error = %message,
                        "delivery failed for the last time: marked failed"
                    );
                } else {
                    self.report.deliveries_failed += 1;
                    warn!(
                        tbs = %alert.tbs_sha256, ?channel, attempts, error = %message,
                        "delivery failed: stays queued for the next run"
                    );
                }
                DeliveryResult::Failed {
                    error: message,
                    at,
                    give_up,
                }
            }
        };
        self.store_result(alert, channel, &result).await;
    }

    async fn store_result(&mut self, alert: &Alert, channel: Channel, result: &DeliveryResult) {
        if let Err(e) = self
            .poller
            .store
            .record_delivery(&alert.tbs_sha256, channel, &self.report.run_id, result)
            .await
        {
            // The lease expires and a later run retries: possibly a duplicate, never a loss.
            error!(tbs = %alert.tbs_sha256, ?channel, error = %e, "cannot record delivery");
            self.report.errors.push(format!(
                "recording {channel:?} of {}: {e}",
                alert.tbs_sha256
            ));
        }
    }
}

fn queued(alert: &Alert, channel: Channel) -> bool {
    alert.delivery(channel).state == DeliveryState::Queued
}
