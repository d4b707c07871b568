//! One poll run: re-check pending alerts, poll the watch entries within the budget and the
//! deadline, then deliver what is queued.
//!
//! Guarantees (each has a test):
//! - An issuance's alert is stored before the cursor moves past it: per page, one batched
//!   inventory lookup, alerts created (create-if-absent by TBS hash), and only then the cursor
//!   advanced by compare-and-set from the value this run read. A crash in between re-reads the
//!   page next run; the alerts already exist, so nothing is duplicated.
//! - Overlapping runs: the cursor compare-and-set lets one run win each page (the other stops
//!   that entry), alerts are create-if-absent, deliveries are leased per alert and channel.
//! - 429, budget and deadline stop the polling cleanly; every cursor stays at the last page whose
//!   alerts are stored. A 429 pauses polling (all entries: the limit is per account) until the
//!   `Retry-After`, recorded on the entry.
//! - A store failure on an entry stops that entry without moving its cursor and is recorded in
//!   its poll status; if even that cannot be written the store is down and the run stops.
//! - What a run creates or resolves is delivered by that run (`fresh::FreshAlerts`), whether or not
//!   the outbox index (eventually consistent in DynamoDB) shows it yet.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctguard::bounds::{TEXT_MAX_BYTES, bound_alert, clip_text, reduced_alert};
use ctguard::certspotter::{Budget, FetchError, Issuance, IssuanceQuery};
use ctguard::classify::{Classification, Recheck, classify_with_caa, recheck};
use ctguard::delivery::DeliveryPolicy;
use ctguard::domain::WatchDomain;
use ctguard::matcher::{EntryMatch, WatchIndex};
use ctguard::model::{Alert, AuthorizedBy, BackfillMode, IssuerInfo, Severity, WatchEntry};
use ctguard::store::{
    AlertStore as _, CursorUpdate, InventoryStore as _, PollStatus, Store, StoreError,
    WatchStore as _,
};
use ctguard::watching;
use futures_util::future::join_all;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::caa::{CaaResolver, CaaRun};
use crate::config::RunSettings;
use crate::fresh::FreshAlerts;
use crate::notify::{Mailer, Publisher};
use crate::report::{QueryFailure, RunError, RunReport, SeverityCounts, StopReason};
use crate::source::{IssuancePager, IssuanceSource};

/// Names logged per certificate (a certificate may carry thousands).
const LOGGED_NAMES: usize = 5;

/// The wall clock, injectable so tests can step past a grace period without sleeping.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What a poller is generic over, under one name: the store, the issuance source and the two
/// notifiers. Every `(store, source, publisher, mailer)` tuple of the right traits is one, so
/// each part of the poller says `impl<D: PollerDeps> Poller<D>`.
pub trait PollerDeps {
    type Store: Store;
    type Source: IssuanceSource;
    type Publisher: Publisher;
    type Mailer: Mailer;
}

impl<S: Store, C: IssuanceSource, P: Publisher, M: Mailer> PollerDeps for (S, C, P, M) {
    type Store = S;
    type Source = C;
    type Publisher = P;
    type Mailer = M;
}

/// Everything one run needs, built once per Lambda instance.
pub struct Poller<D: PollerDeps> {
    pub(crate) store: Arc<D::Store>,
    pub(crate) source: D::Source,
    /// `None`: SNS is not configured.
    pub(crate) publisher: Option<D::Publisher>,
    /// `None`: email is not configured.
    pub(crate) mailer: Option<D::Mailer>,
    pub(crate) settings: RunSettings,
    /// Which channels carry which alerts (from the two above and `EMAIL_INCLUDE_INFO`).
    pub(crate) policy: DeliveryPolicy,
    pub(crate) clock: Clock,
    /// CAA lookups at detection time (`None`: `CAA_RESOLVER=off`).
    pub(crate) caa: Option<CaaResolver>,
}

/// What a run knows about its watch entries besides the index.
struct EntryFacts<'a> {
    /// Entries still in their summary baseline: an issuance matching only such entries is
    /// reported in their summaries rather than one by one.
    summarizing: HashSet<WatchDomain>,
    /// Issuer policies (`allowed_issuers`) of the entries that have one.
    policies: HashMap<WatchDomain, Vec<String>>,
    /// The run's CAA checker (`None`: CAA checks are off).
    caa: Option<&'a CaaRun<'a>>,
}

/// How polling one entry ended.
enum EntryOutcome {
    CaughtUp,
    /// Another run moved the cursor first: it owns this entry now.
    Conflict,
    Stopped(StopReason, Option<DateTime<Utc>>),
    /// Another worker stopped the run's polling (429, budget, deadline, store) first.
    Halted,
    FetchFailed(QueryFailure),
    StoreFailed(StoreError),
}

impl<S: Store, C: IssuanceSource, P: Publisher, M: Mailer> Poller<(S, C, P, M)> {
    pub fn new(
        store: Arc<S>,
        source: C,
        publisher: Option<P>,
        mailer: Option<M>,
        settings: RunSettings,
    ) -> Self {
        if publisher.is_none() {
            warn!("ALERT_TOPIC_ARN is not set: alerts are stored but not published to SNS");
        }
        if mailer.is_none() {
            warn!("EMAIL_FROM / EMAIL_TO are not set: alerts are stored but not emailed");
        }
        let caa = CaaResolver::from_settings(&settings.caa);
        if caa.is_none() {
            warn!("CAA_RESOLVER is off: unauthorized issuances are not checked against CAA");
        }
        let policy = DeliveryPolicy {
            sns: publisher.is_some(),
            email: mailer.is_some(),
            email_info: settings.email_include_info,
        };
        Self {
            store,
            source,
            publisher,
            mailer,
            settings,
            policy,
            clock: Arc::new(Utc::now),
            caa,
        }
    }
}

impl<D: PollerDeps> Poller<D> {
    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// One run. `deadline` is when the invocation must have returned; polling stops
    /// `deadline_margin` before it, delivery half that margin before it.
    pub async fn run(&self, run_id: String, deadline: Instant) -> RunReport {
        let mut report = RunReport::new(run_id, self.now());
        let margin = self.settings.deadline_margin;
        let poll_deadline = deadline.checked_sub(margin).unwrap_or_else(Instant::now);
        let delivery_deadline = deadline
            .checked_sub(margin / 2)
            .unwrap_or_else(Instant::now);

        // What this run creates or resolves, delivered by this run (see `fresh`).
        let mut fresh = FreshAlerts::default();
        self.recheck_pending(&mut report, &mut fresh).await;
        // One CAA checker per run: its cache and lookup bound last for this run only.
        let caa = self
            .caa
            .as_ref()
            .map(|r| CaaRun::new(r, self.settings.caa.max_lookups, poll_deadline));
        self.poll_entries(&mut report, &mut fresh, poll_deadline, caa.as_ref())
            .await;
        if let Some(counts) = caa.as_ref().map(CaaRun::counts) {
            report.caa_issuances_checked = counts.issuances;
            report.caa_lookups = counts.lookups;
            report.caa_cache_hits = counts.cache_hits;
            report.caa_lookup_failures = counts.failed_names;
            if counts.failed_names > 0 {
                warn!(
                    failed_names = counts.failed_names,
                    "some CAA lookups failed: those names are marked lookup_failed on their alerts"
                );
            }
        }
        if report.stop_reason != Some(StopReason::StoreUnavailable) {
            // The watch list as polling left it: the health checks, the expiry check and the
            // baseline summaries (which entries completed their baseline) all read this one.
            let entries = self.check_watching(&mut report).await;
            if let Some(entries) = &entries {
                self.check_expiry(entries, &mut report, &mut fresh).await;
            }
            self.deliver(&mut report, fresh, delivery_deadline, entries.as_deref())
                .await;
        }
        report.finished_at = self.now();
        report
    }

    /// Step 1: pending alerts whose certificate was pushed in time become info; those whose
    /// grace ended become suspicious (and are queued for delivery either way).
    async fn recheck_pending(&self, report: &mut RunReport, fresh: &mut FreshAlerts) {
        let pending = match self.store.list_pending(self.settings.outbox_batch).await {
            Ok(pending) if pending.is_empty() => return,
            Ok(pending) => pending,
            Err(e) => {
                report.error(RunError::ListPending(e));
                return;
            }
        };
        let now = self.now();
        let tbs: Vec<_> = pending.iter().map(|a| a.tbs_sha256).collect();
        let keys = distinct(pending.iter().map(|a| a.pubkey_sha256));
        let authorized = match self.store.lookup(&tbs, &keys, now).await {
            Ok(authorized) => authorized,
            Err(e) => {
                report.error(RunError::PendingLookup(e));
                return;
            }
        };
        for alert in &pending {
            let Recheck::Resolved {
                severity,
                authorized_by: by,
                reasons,
            } = recheck(alert, &authorized, now)
            else {
                continue;
            };
            match self
                .store
                .resolve_pending(&alert.tbs_sha256, severity, by, &reasons, now)
                .await
            {
                Ok(true) => {
                    info!(tbs = %alert.tbs_sha256, severity = severity.as_str(), "pending alert resolved");
                    count(&mut report.pending_resolved, severity);
                    if by == Some(AuthorizedBy::TbsSha256) {
                        self.mark_ct_seen(&alert.tbs_sha256, alert.first_seen_at, report)
                            .await;
                    }
                    fresh.remember_resolved(alert.tbs_sha256);
                }
                Ok(false) => {} // another run resolved it
                Err(source) => report.error(RunError::ResolvePending {
                    tbs: alert.tbs_sha256,
                    source,
                }),
            }
        }
    }

    /// Steps 2 and 3.
    async fn poll_entries(
        &self,
        report: &mut RunReport,
        fresh: &mut FreshAlerts,
        deadline: Instant,
        caa: Option<&CaaRun<'_>>,
    ) {
        let mut entries = match self.store.list_watches().await {
            Ok(entries) => entries,
            Err(e) => {
                report.error(RunError::ListWatches(e));
                report.stop(StopReason::StoreUnavailable);
                return;
            }
        };
        self.seed_canary(&mut entries, report).await;
        report.entries_total = entries.len() as u32;
        if entries.is_empty() {
            return;
        }
        let now = self.now();
        if let Some(until) = entries
            .iter()
            .filter_map(|e| e.rate_limited_until)
            .filter(|until| *until > now)
            .max()
        {
            info!(%until, "Cert Spotter rate limit in force: not polling this run");
            report.stop(StopReason::RateLimited);
            report.entries_skipped = entries.len() as u32;
            report.entries_stuck =
                entries.iter().filter(|e| e.stuck_since.is_some()).count() as u32;
            return;
        }

        // Canaries are not matched against (their issuances are expected, never alerts), and
        // are polled only when due (they cost quota).
        let index = ctguard::watching::match_index(&entries);
        let interval = chrono_duration(self.settings.canary_poll_interval);
        entries.retain(|e| !e.canary || watching::canary_due(e, now, interval));
        // Entries still in their summary baseline: an issuance matching only such entries is
        // reported in their summaries rather than one by one.
        let summarizing: HashSet<WatchDomain> = entries
            .iter()
            .filter(|e| e.baseline_completed_at.is_none() && e.backfill == BackfillMode::Summary)
            .filter(|e| !e.canary)
            .map(|e| e.domain.clone())
            .collect();
        let facts = EntryFacts {
            summarizing,
            policies: entries
                .iter()
                .filter(|e| !e.canary && !e.allowed_issuers.is_empty())
                .map(|e| (e.domain.clone(), e.allowed_issuers.clone()))
                .collect(),
            caa,
        };
        // Least recently polled first; never-polled entries before all others.
        entries.sort_by(|a, b| {
            a.last_polled_at
                .cmp(&b.last_polled_at)
                .then_with(|| a.domain.cmp(&b.domain))
        });

        // `POLL_CONCURRENCY` workers take the entries in that order; each polls one entry at a
        // time (its pages in sequence). They share the query budget, the deadline and the
        // stop: after a 429, the budget's end or a store failure no worker starts another
        // page. The request rate is the Cert Spotter client's shared limiter.
        let shared = PollShared::new(self.settings.query_budget, deadline);
        let workers = (self.settings.poll_concurrency.max(1) as usize).min(entries.len());
        let started_at = report.started_at;
        let merged = Mutex::new((
            RunReport::new(String::new(), started_at),
            FreshAlerts::default(),
        ));
        let worker = || async {
            loop {
                let position = shared.next.fetch_add(1, Ordering::SeqCst);
                let Some(entry) = entries.get(position) else {
                    break;
                };
                if shared.stopped().is_none() && Instant::now() >= deadline {
                    shared.stop(StopReason::Deadline);
                }
                let mut part = RunReport::new(String::new(), started_at);
                let mut part_fresh = FreshAlerts::default();
                if shared.stopped().is_some() {
                    part.entries_skipped += 1;
                    part.entries_stuck += u32::from(entry.stuck_since.is_some());
                } else {
                    let stuck = self
                        .poll_entry(
                            entry,
                            position,
                            &index,
                            &facts,
                            &shared,
                            &mut part,
                            &mut part_fresh,
                        )
                        .await
                        .unwrap_or(entry.stuck_since.is_some());
                    part.entries_stuck += u32::from(stuck);
                }
                {
                    let mut merged = lock(&merged);
                    merged.0.absorb_entry(part);
                    merged.1.absorb(part_fresh);
                }
            }
        };
        join_all((0..workers).map(|_| worker())).await;
        // The first reason any worker stopped for, then what each entry counted.
        if let Some(reason) = shared.stopped() {
            report.stop(reason);
        }
        let (polled, polled_fresh) = merged.into_inner().unwrap_or_else(|p| p.into_inner());
        report.absorb_entry(polled);
        fresh.absorb(polled_fresh);
        report.queries_used = self.settings.query_budget - shared.queries_left();
    }

    /// Polls one entry and records its poll status; returns whether the entry is stuck now
    /// (`None` when nothing was recorded: not reached, or left to another run).
    #[allow(clippy::too_many_arguments)]
    async fn poll_entry(
        &self,
        entry: &WatchEntry,
        position: usize,
        index: &WatchIndex,
        facts: &EntryFacts<'_>,
        shared: &PollShared,
        report: &mut RunReport,
        fresh: &mut FreshAlerts,
    ) -> Option<bool> {
        let domain = &entry.domain;
        let in_baseline = entry.baseline_completed_at.is_none();
        // The pager is the one holder of the cursor: each page says where it started (the
        // value to compare-and-set from) and where the next one starts.
        let mut pager = self.source.pages(
            IssuanceQuery {
                domain: domain.as_str().to_owned(),
                include_subdomains: true,
                match_wildcards: true,
            },
            entry.cursor.clone(),
        );
        let mut pages = 0u32;
        let mut advanced = false;
        let outcome = loop {
            // Another worker stopped the run's polling: no new page for this entry either.
            if shared.stopped().is_some() {
                break EntryOutcome::Halted;
            }
            let mut budget = shared
                .take_budget(position, self.settings.page_attempts)
                .await;
            let taken = budget.queries_left;
            let fetched = pager.next_page(&mut budget).await;
            shared.give_back(taken, budget.queries_left);
            let page = match fetched {
                Ok(Some(page)) => page,
                Ok(None) => break EntryOutcome::CaughtUp,
                Err(e) => match self.fetch_stopped(e) {
                    // Out of budget or time because another worker stopped first.
                    EntryOutcome::Stopped(reason, _)
                        if reason != StopReason::RateLimited && shared.stopped().is_some() =>
                    {
                        break EntryOutcome::Halted;
                    }
                    EntryOutcome::Stopped(reason, until) => {
                        shared.stop(reason);
                        break EntryOutcome::Stopped(reason, until);
                    }
                    other => break other,
                },
            };
            pages += 1;
            report.issuances_seen += page.issuances.len() as u32;
            let stored = if entry.canary {
                // Expected issuances: recorded as proof of life, never alerted.
                self.store.record_canary_issuance(domain, self.now()).await
            } else {
                self.store_page(entry, &page.issuances, index, facts, report, fresh)
                    .await
            };
            if let Err(e) = stored {
                break EntryOutcome::StoreFailed(e);
            }
            if page.cursor.len() > TEXT_MAX_BYTES {
                // It could not be stored as the cursor; the entry shows stuck.
                break EntryOutcome::FetchFailed(QueryFailure::CursorTooLong(page.cursor.len()));
            }
            match self
                .store
                .advance_cursor(domain, page.after.as_deref(), &page.cursor, self.now())
                .await
            {
                Ok(CursorUpdate::Advanced) => advanced = true,
                Ok(CursorUpdate::Conflict) => break EntryOutcome::Conflict,
                Err(e) => break EntryOutcome::StoreFailed(e),
            }
        };

        let now = self.now();
        let mut status = PollStatus {
            polled_at: now,
            success: false,
            error: None,
            rate_limited_until: None,
            baseline_completed_at: None,
            stalled_runs: 0,
            stuck_since: None,
        };
        match outcome {
            EntryOutcome::CaughtUp => {
                status.success = true;
                report.entries_caught_up += 1;
                if in_baseline {
                    status.baseline_completed_at = Some(now);
                    report.baselines_completed += 1;
                    info!(%domain, "baseline complete");
                }
            }
            EntryOutcome::Conflict => {
                info!(%domain, "another run advanced this entry's cursor first; leaving it to that run");
                report.entries_polled += 1;
                return None;
            }
            EntryOutcome::Stopped(reason, rate_limited_until) => {
                report.stop(reason);
                status.rate_limited_until = rate_limited_until;
                if reason == StopReason::RateLimited {
                    status.error = Some("rate limited by Cert Spotter".to_owned());
                    warn!(%domain, until = ?rate_limited_until, "rate limited: stopping the run's polling");
                } else {
                    info!(%domain, ?reason, "stopping the run's polling");
                }
                if pages == 0 && reason != StopReason::RateLimited {
                    // Not reached at all: keep its place at the head of the queue.
                    report.entries_skipped += 1;
                    return None;
                }
            }
            EntryOutcome::Halted => {
                if pages == 0 {
                    // Not reached: keeps its place at the head of the queue.
                    report.entries_skipped += 1;
                    return None;
                }
                info!(%domain, "the run's polling stopped: this entry continues next run");
            }
            EntryOutcome::FetchFailed(source) => {
                report.entries_failed += 1;
                status.error = Some(source.to_string());
                report.error(RunError::Query {
                    domain: domain.clone(),
                    source,
                });
            }
            EntryOutcome::StoreFailed(source) => {
                report.entries_failed += 1;
                status.error = Some(source.to_string());
                report.error(RunError::StoreMidPage {
                    domain: domain.clone(),
                    source,
                });
            }
        }
        report.entries_polled += 1;
        status.error = status.error.map(|e| clip_text(&e, TEXT_MAX_BYTES));
        self.track_progress(entry, status.success || advanced, &mut status);
        if let Err(source) = self.store.record_poll(domain, &status).await {
            report.error(RunError::RecordPoll {
                domain: domain.clone(),
                source,
            });
            report.stop(StopReason::StoreUnavailable);
            shared.stop(StopReason::StoreUnavailable);
        }
        Some(status.stuck_since.is_some())
    }

    /// Stuck detection: a poll that neither caught up nor moved the cursor is one more
    /// stalled run; `stuck_after_runs` of them in a row make the entry stuck (shown by the
    /// API, counted in the run's `EntriesStuck` metric, alarmed on) until it progresses.
    fn track_progress(&self, entry: &WatchEntry, progressed: bool, status: &mut PollStatus) {
        if progressed {
            if entry.stuck_since.is_some() {
                info!(domain = %entry.domain, "entry is moving again: no longer stuck");
            }
            return;
        }
        status.stalled_runs = entry.stalled_runs.saturating_add(1);
        if status.stalled_runs >= self.settings.stuck_after_runs {
            status.stuck_since = entry.stuck_since.or(Some(status.polled_at));
            error!(
                domain = %entry.domain,
                stalled_runs = status.stalled_runs,
                since = ?status.stuck_since,
                last_error = status.error.as_deref().unwrap_or(""),
                "watch entry is stuck: no progress for several runs in a row"
            );
        }
    }

    fn fetch_stopped(&self, error: FetchError) -> EntryOutcome {
        match error {
            FetchError::RateLimited { retry_after } => {
                let pause = retry_after.unwrap_or(self.settings.rate_limit_backoff);
                let until = self.now() + chrono::Duration::from_std(pause).unwrap_or_default();
                EntryOutcome::Stopped(StopReason::RateLimited, Some(until))
            }
            FetchError::BudgetExhausted => EntryOutcome::Stopped(StopReason::BudgetExhausted, None),
            FetchError::DeadlineReached => EntryOutcome::Stopped(StopReason::Deadline, None),
            // API errors, 5xx after retries, timeouts, transport, garbage: this entry only.
            other => EntryOutcome::FetchFailed(QueryFailure::Fetch(other)),
        }
    }

    /// Classifies one page with one batched inventory lookup and stores its alerts.
    async fn store_page(
        &self,
        entry: &WatchEntry,
        page: &[Issuance],
        index: &WatchIndex,
        facts: &EntryFacts<'_>,
        report: &mut RunReport,
        fresh: &mut FreshAlerts,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let tbs = distinct(page.iter().map(|i| i.tbs_sha256));
        let keys = distinct(page.iter().map(|i| i.pubkey_sha256));
        let authorized = self.store.lookup(&tbs, &keys, now).await?;
        // What exists at the first poll is reported as it is, without a grace period.
        let grace = if entry.baseline_completed_at.is_none() {
            Duration::ZERO
        } else {
            self.settings.grace_period
        };

        let mut seen = HashSet::with_capacity(page.len());
        let mut alerts = Vec::with_capacity(page.len());
        for issuance in page {
            // One alert per TBS hash even if a page were to repeat one.
            if !seen.insert(issuance.tbs_sha256) {
                continue;
            }
            let matched = matched_entries(index, issuance, &entry.domain);
            let baseline = matched.iter().all(|m| facts.summarizing.contains(&m.entry));
            let entry_policies: Vec<(&str, &[String])> = matched
                .iter()
                .filter_map(|m| {
                    facts
                        .policies
                        .get(&m.entry)
                        .map(|p| (m.entry.as_str(), p.as_slice()))
                })
                .collect();
            // CAA at detection time, for new unauthorized issuances only (what the first poll
            // finds is history: CAA now says nothing about when it was issued).
            let unauthorized = authorized
                .authorizes(
                    &issuance.tbs_sha256,
                    &issuance.pubkey_sha256,
                    &issuance.dns_names,
                )
                .is_none();
            let caa = match facts.caa {
                Some(caa) if unauthorized && entry.baseline_completed_at.is_some() => {
                    let ids = issuance
                        .issuer
                        .as_ref()
                        .and_then(|i| i.caa_domains.as_deref())
                        .unwrap_or(&[]);
                    // Bounded like the stored issuer (`bounds::CAA_DOMAINS_MAX`).
                    let ids = &ids[..ids.len().min(ctguard::bounds::CAA_DOMAINS_MAX)];
                    Some(caa.check(&matched, ids, now).await)
                }
                _ => None,
            };
            let verdict = classify_with_caa(
                issuance,
                &authorized,
                &entry_policies,
                caa.as_ref(),
                grace,
                now,
            );
            let mut alert = self.new_alert(issuance, matched, verdict, baseline, now);
            alert.caa = caa;
            bound_alert(&mut alert, &entry.domain);
            alerts.push(alert);
        }
        let created = match self.store.create_alerts(&alerts).await {
            Err(StoreError::Rejected { message, .. }) => {
                warn!(domain = %entry.domain, error = %message, "the page's alerts were refused: storing them one by one");
                self.create_one_by_one(&entry.domain, &mut alerts, report)
                    .await?
            }
            other => other?,
        };
        for (alert, created) in alerts.iter().zip(created) {
            if !created {
                continue;
            }
            if alert.authorized_by == Some(AuthorizedBy::TbsSha256) {
                self.mark_ct_seen(&alert.tbs_sha256, now, report).await;
            }
            count(&mut report.alerts_created, alert.severity);
            // Authorized certificates are routine (one per renewal): keep them out of the
            // default log level; everything else is worth a line.
            if alert.severity == Severity::Info {
                debug!(tbs = %alert.tbs_sha256, domain = crate::message::primary_domain(alert), "new authorized certificate");
            } else {
                info!(
                    tbs = %alert.tbs_sha256,
                    severity = alert.severity.as_str(),
                    domain = crate::message::primary_domain(alert),
                    names = ?&alert.dns_names[..alert.dns_names.len().min(LOGGED_NAMES)],
                    names_total = alert.names_total,
                    baseline = alert.baseline,
                    "new unauthorized certificate"
                );
            }
            fresh.remember(alert);
        }
        Ok(())
    }

    /// The fallback when DynamoDB refuses a page: each alert on its own, and a reduced alert
    /// (`suspicious`, with the reason) for one refused even alone, so the cursor can move on
    /// and the issuance is still reported. Other store errors stop the entry as usual.
    async fn create_one_by_one(
        &self,
        polled: &WatchDomain,
        alerts: &mut [Alert],
        report: &mut RunReport,
    ) -> Result<Vec<bool>, StoreError> {
        let mut created = Vec::with_capacity(alerts.len());
        for alert in alerts.iter_mut() {
            match self.store.create_alert(alert).await {
                Ok(c) => created.push(c),
                Err(StoreError::Rejected { message, .. }) => {
                    let reason = format!(
                        "reduced: the full alert could not be stored ({message}); the \
                         certificate's names and issuer are on crt.sh"
                    );
                    error!(tbs = %alert.tbs_sha256, %polled, error = %message, "alert refused: storing a reduced alert");
                    *alert = reduced_alert(alert, polled, &reason);
                    created.push(self.store.create_alert(alert).await?);
                    report.alerts_reduced += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// When a new alert may be deleted (DynamoDB TTL).
    pub(crate) fn alert_expiry(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.settings
            .alert_retention
            .and_then(|r| chrono::Duration::from_std(r).ok())
            .and_then(|r| now.checked_add_signed(r))
    }

    fn new_alert(
        &self,
        issuance: &Issuance,
        matched: Vec<EntryMatch>,
        verdict: Classification,
        baseline: bool,
        now: DateTime<Utc>,
    ) -> Alert {
        let (sns, email) = self.policy.initial(verdict.severity, baseline);
        let issuer = issuance.issuer.clone().unwrap_or_default();
        Alert {
            tbs_sha256: issuance.tbs_sha256,
            issuance_id: issuance.id.clone(),
            cert_sha256: issuance.cert_sha256,
            pubkey_sha256: issuance.pubkey_sha256,
            dns_names: issuance.dns_names.clone(),
            matched,
            // Set by `bound_alert`.
            names_total: None,
            names_truncated: false,
            matched_names_total: None,
            matched_truncated: false,
            reduced: None,
            issuer: IssuerInfo {
                friendly_name: issuer.friendly_name,
                name: issuer.name,
                pubkey_sha256: issuer.pubkey_sha256,
                caa_domains: issuer.caa_domains.unwrap_or_default(),
            },
            not_before: issuance.not_before,
            not_after: issuance.not_after,
            revoked: issuance.revoked.unwrap_or(false),
            problem_reporting: issuance.problem_reporting.clone(),
            severity: verdict.severity,
            reasons: verdict.reasons,
            authorized_by: verdict.authorized_by,
            caa: None,
            first_seen_at: now,
            classified_at: now,
            grace_until: verdict.grace_until,
            baseline,
            sns,
            email,
            ack: None,
            expires_at: self.alert_expiry(now),
        }
    }
}

/// The entries an issuance matches. Cert Spotter returned it for `polled`, so `polled` is
/// always among them: if our matcher disagrees (an edge case of wildcard or name syntax), we
/// alert rather than drop it (fail safe).
fn matched_entries(
    index: &WatchIndex,
    issuance: &Issuance,
    polled: &WatchDomain,
) -> Vec<EntryMatch> {
    let mut matched = index.matches(&issuance.dns_names);
    if !matched.iter().any(|m| &m.entry == polled) {
        warn!(
            entry = %polled,
            names = ?&issuance.dns_names[..issuance.dns_names.len().min(LOGGED_NAMES)],
            names_total = issuance.dns_names.len(),
            "Cert Spotter returned an issuance the matcher does not match: alerting anyway"
        );
        let mut names = issuance.dns_names.clone();
        names.sort();
        matched.push(EntryMatch {
            entry: polled.clone(),
            names,
        });
        matched.sort_by(|a, b| a.entry.cmp(&b.entry));
    }
    matched
}

/// What the workers polling entries at once share.
pub(crate) struct PollShared {
    /// The run's query budget: not handed out yet, and set aside by workers fetching a page.
    queries: Mutex<Queries>,
    /// Signalled when a worker gives back what it set aside.
    returned: tokio::sync::Notify,
    deadline: Instant,
    /// Why the run's polling stopped (the first reason).
    stop_reason: Mutex<Option<StopReason>>,
    /// The next entry to poll (position in the least-recently-polled order).
    next: AtomicUsize,
}

impl PollShared {
    fn new(query_budget: u32, deadline: Instant) -> Self {
        Self {
            queries: Mutex::new(Queries {
                left: query_budget,
                set_aside: 0,
                waiting: std::collections::BTreeSet::new(),
            }),
            returned: tokio::sync::Notify::new(),
            deadline,
            stop_reason: Mutex::new(None),
            next: AtomicUsize::new(0),
        }
    }

    fn stopped(&self) -> Option<StopReason> {
        *lock(&self.stop_reason)
    }

    fn stop(&self, reason: StopReason) {
        lock(&self.stop_reason).get_or_insert(reason);
    }

    /// Sets aside what one page of the entry at `position` may cost (`page_attempts`
    /// queries, fewer when the budget is nearly spent); what the fetch did not use goes back
    /// with [`Self::give_back`]. Queries go to the waiting entry first in the polling order
    /// (least recently polled), so a run spends its budget on the entries at the head of the
    /// queue whatever the concurrency. With nothing left while other workers hold queries set
    /// aside, waits for them: the budget is spent only when every query is, not when it is all
    /// reserved. An empty budget (the fetch then stops as "budget exhausted") once nothing can
    /// come back, or when the run's polling stopped.
    async fn take_budget(&self, position: usize, page_attempts: u32) -> Budget {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            {
                let mut queries = lock(&self.queries);
                let first = queries.waiting.first().is_none_or(|&w| w >= position);
                let taken = queries.left.min(page_attempts.max(1));
                if first && (taken > 0 || queries.set_aside == 0 || self.stopped().is_some()) {
                    queries.waiting.remove(&position);
                    queries.left -= taken;
                    queries.set_aside += taken;
                    drop(queries);
                    // The next entry in the order may go now.
                    self.returned.notify_waiters();
                    return Budget {
                        deadline: self.deadline,
                        queries_left: taken,
                    };
                }
                queries.waiting.insert(position);
                // Registered before the lock is released: a give-back cannot be missed.
                returned.as_mut().enable();
            }
            returned.await;
        }
    }

    /// Ends a fetch that set aside `taken` queries and left `unused` of them.
    fn give_back(&self, taken: u32, unused: u32) {
        {
            let mut queries = lock(&self.queries);
            queries.set_aside -= taken;
            queries.left += unused.min(taken);
        }
        self.returned.notify_waiters();
    }

    fn queries_left(&self) -> u32 {
        lock(&self.queries).left
    }
}

struct Queries {
    left: u32,
    set_aside: u32,
    /// Positions of the entries waiting for queries.
    waiting: std::collections::BTreeSet<usize>,
}

/// A lock whose data stays consistent even if a holder panicked (counters only).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A setting as a chrono duration (saturating: settings are bounded when read).
pub(crate) fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn distinct<T: Eq + std::hash::Hash + Copy>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

pub(crate) fn count(counts: &mut SeverityCounts, severity: Severity) {
    match severity {
        Severity::Info => counts.info += 1,
        Severity::Pending => counts.pending += 1,
        Severity::Suspicious => counts.suspicious += 1,
        Severity::Critical => counts.critical += 1,
    }
}

/// Whole runs on the in-memory store (each guarantee above has one).
#[cfg(test)]
mod tests;
