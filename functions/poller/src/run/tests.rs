//! Unit tests of a whole run (poll, classify, store, cursor, deliver) on the in-memory store
//! (faults armed on it) with a scripted issuance source and notifiers that fail on demand. The
//! same scenarios run against the emulator in `tests/tests/poller_*.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use ctguard::model::{
    AuthorizedBy, BackfillMode, DeliveryState, InventoryCert, Severity, WatchEntry,
};
use ctguard::store::memory::{Fault, MemoryStore};
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use tokio::time::Instant;

use super::Poller;
use crate::config::RunSettings;
use crate::report::{RunReport, StopReason};
use crate::testutil::*;

struct Harness {
    store: Arc<MemoryStore>,
    source: FakeSource,
    notifier: FakeNotifier,
    clock: TestClock,
    settings: RunSettings,
}

type TestPoller = Poller<(MemoryStore, FakeSource, FakeNotifier, FakeNotifier)>;

impl Harness {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            source: FakeSource::new(100),
            notifier: FakeNotifier::default(),
            clock: TestClock::new(t0()),
            settings: RunSettings {
                grace_period: Duration::ZERO,
                query_budget: 20,
                deadline_margin: Duration::from_secs(1),
                ..RunSettings::default()
            },
        }
    }

    fn poller(&self) -> TestPoller {
        Poller::new(
            self.store.clone(),
            self.source.clone(),
            Some(self.notifier.clone()),
            Some(self.notifier.clone()),
            self.settings.clone(),
        )
        .with_clock(self.clock.as_clock())
    }

    /// A poller with both channels off: alerts are stored with nothing queued.
    fn silent_poller(&self) -> TestPoller {
        Poller::new(
            self.store.clone(),
            self.source.clone(),
            None,
            None,
            self.settings.clone(),
        )
    }

    /// The store requests of one run of [`Self::silent_poller`].
    async fn store_requests_of_a_silent_run(&self) -> u32 {
        let poller = self.silent_poller();
        self.store.reset_calls();
        poller
            .run("r".into(), Instant::now() + Duration::from_secs(60))
            .await;
        self.store.calls()
    }

    async fn run(&self) -> RunReport {
        self.poller()
            .run(
                crate::handler::new_run_id(),
                Instant::now() + Duration::from_secs(60),
            )
            .await
    }

    /// A watch entry whose baseline is done (new issuances alert one by one).
    async fn watch(&self, d: &str) {
        let mut entry = WatchEntry::new(domain(d), None, BackfillMode::Summary, t0());
        entry.baseline_completed_at = Some(t0());
        assert!(self.store.create_watch(&entry).await.unwrap());
    }

    /// A watch entry never polled (its first poll is the baseline).
    async fn watch_new(&self, d: &str, backfill: BackfillMode) {
        let entry = WatchEntry::new(domain(d), None, backfill, t0());
        assert!(self.store.create_watch(&entry).await.unwrap());
    }

    async fn entry(&self, d: &str) -> WatchEntry {
        self.store.get_watch(&domain(d)).await.unwrap().unwrap()
    }

    async fn alert(&self, n: u64) -> ctguard::model::Alert {
        self.store
            .get_alert(&hash("tbs", n))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no alert for issuance {n}"))
    }

    async fn alert_count(&self) -> usize {
        self.store
            .list_alerts(
                &Default::default(),
                &ctguard::store::PageRequest {
                    limit: 10_000,
                    token: None,
                },
            )
            .await
            .unwrap()
            .items
            .len()
    }

    async fn authorize_tbs(&self, n: u64) {
        let cert = inventory_cert(hash("tbs", n), &[], "lb:test", Utc::now());
        self.store.put_cert(&cert).await.unwrap();
    }

    async fn authorize_key(&self, n: u64) {
        let key = authorized_key(hash("key", n), &[], "operator", Utc::now());
        self.store.put_key(&key).await.unwrap();
    }

    fn sns_bodies(&self) -> Vec<serde_json::Value> {
        self.notifier
            .sns()
            .iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn new_suspicious_certificate_is_stored_published_and_emailed_once() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["www.example.com"]));

    let report = h.run().await;
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(report.deliveries_ok, 2);
    let alert = h.alert(1).await;
    assert_eq!(alert.severity, Severity::Suspicious);
    assert_eq!(alert.sns.state, DeliveryState::Sent);
    assert_eq!(alert.email.state, DeliveryState::Sent);
    assert_eq!(h.entry("example.com").await.cursor.as_deref(), Some("1"));
    let sns = h.notifier.sns();
    assert_eq!(sns.len(), 1);
    assert!(
        sns[0]
            .attributes
            .iter()
            .any(|a| a.name == "severity" && a.value == "suspicious")
    );
    assert_eq!(h.notifier.emails().len(), 1);
    assert!(h.notifier.emails()[0].text.contains("www.example.com"));

    // The next run finds nothing new and sends nothing again.
    let report = h.run().await;
    assert_eq!(report.alerts_created, Default::default());
    assert_eq!(h.notifier.sns().len(), 1);
    assert_eq!(h.notifier.emails().len(), 1);
}

#[tokio::test]
async fn authorized_by_tbs_or_key_is_info_published_but_not_emailed() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["b.example.com"]));
    h.authorize_tbs(1).await;
    h.authorize_key(2).await;

    let report = h.run().await;
    assert_eq!(report.alerts_created.info, 2);
    assert_eq!(
        h.alert(1).await.authorized_by,
        Some(AuthorizedBy::TbsSha256)
    );
    assert_eq!(
        h.alert(2).await.authorized_by,
        Some(AuthorizedBy::PubkeySha256)
    );
    assert_eq!(h.alert(1).await.email.state, DeliveryState::Skipped);
    let severities: Vec<_> = h
        .sns_bodies()
        .iter()
        .map(|b| b["severity"].clone())
        .collect();
    assert_eq!(severities, ["info", "info"]);
    assert!(h.notifier.emails().is_empty());
}

/// A push vouches for its names only: a key, or a hash-only record, pushed for
/// `shop.example.com` does not authorize a certificate for another name that shares the key or
/// the TBS hash (a leaked scoped token cannot hide alerts for other names).
#[tokio::test]
async fn pushed_keys_and_hash_only_records_authorize_only_their_names() {
    let h = Harness::new();
    h.watch("example.com").await;
    let shop = ["shop.example.com"];
    h.store
        .push_key(&authorized_key(hash("key", 1), &shop, "lb:shop", t0()))
        .await
        .unwrap();
    h.store
        .push_cert(&inventory_cert(hash("tbs", 3), &shop, "lb:shop", t0()))
        .await
        .unwrap();
    h.source.push(issuance(1, &["shop.example.com"]));
    let mut same_key = issuance(2, &["pay.example.com"]);
    same_key.pubkey_sha256 = hash("key", 1);
    h.source.push(same_key);
    h.source.push(issuance(3, &["pay.example.com"]));

    h.run().await;
    assert_eq!(
        h.alert(1).await.authorized_by,
        Some(AuthorizedBy::PubkeySha256)
    );
    for n in [2, 3] {
        let alert = h.alert(n).await;
        assert_eq!(alert.severity, Severity::Suspicious, "issuance {n}");
        assert_eq!(alert.authorized_by, None);
    }
}

#[tokio::test]
async fn info_alerts_are_emailed_when_configured() {
    let mut h = Harness::new();
    h.settings.email_include_info = true;
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.authorize_tbs(1).await;
    h.run().await;
    assert_eq!(h.notifier.emails().len(), 1);
    assert!(h.notifier.emails()[0].subject.contains("authorized"));
}

#[tokio::test]
async fn one_alert_per_tbs_hash_even_when_two_issuances_share_it() {
    // A precertificate and its final certificate share the TBS hash.
    let h = Harness::new();
    h.watch("example.com").await;
    let precert = issuance(1, &["www.example.com"]);
    let mut final_cert = issuance(2, &["www.example.com"]);
    final_cert.tbs_sha256 = precert.tbs_sha256;
    h.source.push(precert);
    h.source.push(final_cert);

    let report = h.run().await;
    assert_eq!(report.issuances_seen, 2);
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(h.alert_count().await, 1);
    assert_eq!(h.notifier.sns().len(), 1);
}

#[tokio::test]
async fn a_certificate_for_two_entries_is_one_alert_listing_both() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.watch("example.org").await;
    h.source
        .push(issuance(1, &["www.example.com", "www.example.org"]));

    let report = h.run().await;
    assert_eq!(report.issuances_seen, 2, "each entry's query returns it");
    assert_eq!(report.alerts_created.suspicious, 1);
    let alert = h.alert(1).await;
    let entries: Vec<_> = alert.matched.iter().map(|m| m.entry.as_str()).collect();
    assert_eq!(entries, ["example.com", "example.org"]);
    let sns = h.notifier.sns();
    assert_eq!(sns.len(), 1);
    let domains = sns[0]
        .attributes
        .iter()
        .find(|a| a.name == "domains")
        .unwrap();
    assert_eq!(domains.value, r#"["example.com","example.org"]"#);
    assert_eq!(h.entry("example.org").await.cursor.as_deref(), Some("1"));
}

#[tokio::test]
async fn pages_across_runs_within_the_query_budget() {
    let mut h = Harness::new();
    h.source = FakeSource::new(2);
    h.settings.query_budget = 2;
    h.watch("example.com").await;
    for n in 1..=5 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }

    let report = h.run().await;
    assert!(report.stopped(StopReason::BudgetExhausted));
    assert_eq!(report.stop_reason, Some(StopReason::BudgetExhausted));
    assert_eq!(report.queries_used, 2);
    assert_eq!(report.alerts_created.suspicious, 4);
    assert_eq!(h.entry("example.com").await.cursor.as_deref(), Some("4"));
    assert_eq!(h.entry("example.com").await.last_success_at, None);

    let report = h.run().await;
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(h.entry("example.com").await.cursor.as_deref(), Some("5"));
    assert_eq!(h.alert_count().await, 5);
    assert_eq!(h.notifier.sns().len(), 5);
    assert_eq!(h.notifier.emails().len(), 2, "one email per run");
}

#[tokio::test]
async fn least_recently_polled_entry_goes_first() {
    let mut h = Harness::new();
    h.settings.query_budget = 1;
    h.watch("a.example").await;
    h.watch("b.example").await;
    h.source.push(issuance(1, &["x.a.example"]));
    h.source.push(issuance(2, &["x.b.example"]));

    // Budget 1: first run polls a.example (both never polled; ties by name), stops.
    let first = h.run().await;
    assert_eq!(first.entries_skipped, 1);
    assert!(h.store.get_alert(&hash("tbs", 1)).await.unwrap().is_some());
    assert!(h.store.get_alert(&hash("tbs", 2)).await.unwrap().is_none());
    // Next run: b.example has never been polled, so it goes before a.example.
    h.clock.advance(chrono::Duration::minutes(5));
    h.run().await;
    assert!(h.store.get_alert(&hash("tbs", 2)).await.unwrap().is_some());
    assert!(h.entry("b.example").await.last_polled_at > h.entry("a.example").await.last_polled_at);
}

#[tokio::test]
async fn rate_limit_mid_run_keeps_stored_progress_and_pauses_polling() {
    let mut h = Harness::new();
    h.source = FakeSource::new(1);
    h.watch("example.com").await;
    h.watch("example.org").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["b.example.com"]));
    h.source.push(issuance(3, &["a.example.org"]));
    h.source.rate_limit_after(1);

    let report = h.run().await;
    assert!(report.stopped(StopReason::RateLimited));
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_skipped, 1);
    let entry = h.entry("example.com").await;
    assert_eq!(entry.cursor.as_deref(), Some("1"));
    assert_eq!(
        entry.rate_limited_until,
        Some(t0() + chrono::Duration::seconds(120))
    );
    assert_eq!(
        h.notifier.sns().len(),
        1,
        "what was stored is still delivered"
    );

    // Still inside Retry-After: no query at all.
    let queries = h.source.queries();
    h.source.state.lock().unwrap().rate_limit_after = None;
    let report = h.run().await;
    assert!(report.stopped(StopReason::RateLimited));
    assert_eq!(h.source.queries(), queries);

    h.clock.advance(chrono::Duration::seconds(121));
    let report = h.run().await;
    assert!(!report.stopped(StopReason::RateLimited));
    assert_eq!(h.alert_count().await, 3);
    assert_eq!(h.entry("example.com").await.rate_limited_until, None);
}

#[tokio::test]
async fn deadline_stops_before_any_query() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    // Less time left than the margin.
    let report = h
        .poller()
        .run("r".into(), Instant::now() + Duration::from_millis(500))
        .await;
    assert!(report.stopped(StopReason::Deadline));
    assert_eq!(report.queries_used, 0);
    assert_eq!(report.entries_skipped, 1);
    assert_eq!(h.entry("example.com").await.cursor, None);
    assert_eq!(h.entry("example.com").await.last_polled_at, None);
}

#[tokio::test]
async fn crash_between_storing_alerts_and_moving_the_cursor_duplicates_nothing() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["b.example.com"]));
    h.store.arm("advance_cursor", Fault::Fail);

    let report = h.run().await;
    assert_eq!(report.alerts_created.suspicious, 2);
    assert_eq!(report.entries_failed, 1);
    let entry = h.entry("example.com").await;
    assert_eq!(entry.cursor, None, "cursor not moved");
    assert!(entry.last_error.unwrap().contains("injected fault"));

    h.store.disarm("advance_cursor");
    let report = h.run().await;
    assert_eq!(report.issuances_seen, 2, "the page is read again");
    assert_eq!(
        report.alerts_created,
        Default::default(),
        "but no alert is new"
    );
    assert_eq!(h.entry("example.com").await.cursor.as_deref(), Some("2"));
    assert_eq!(h.entry("example.com").await.last_error, None);
    assert_eq!(
        h.notifier.sns().len(),
        2,
        "each alert published exactly once"
    );
}

#[tokio::test]
async fn store_failure_on_one_entry_leaves_its_cursor_and_the_run_goes_on() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.watch("example.org").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["a.example.org"]));
    h.store.arm("create_alerts", Fault::Fail);

    let report = h.run().await;
    assert_eq!(report.entries_failed, 2);
    assert!(!report.failed);
    assert_eq!(h.entry("example.com").await.cursor, None);
    assert_eq!(h.entry("example.org").await.cursor, None);
    assert!(h.entry("example.org").await.last_error.is_some());
}

/// A failure the run carries on from is logged once, where it is handled, in the words the
/// report lists it; nothing is logged at warn or error that the report does not list.
#[tokio::test]
async fn each_handled_error_is_logged_once_in_the_reports_words() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let h = Harness::new();
    h.watch("example.com").await;
    h.watch("example.org").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["a.example.org"]));
    h.store.arm("create_alerts", Fault::Fail);

    let report = h.run().await;
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    let problems: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .filter(|l| !l.contains("is not set") && !l.contains("CAA_RESOLVER is off"))
        .collect();
    assert_eq!(problems.len(), report.errors.len(), "{problems:#?}");
    for error in &report.errors {
        // A log line reads "<time> <LEVEL> <target>: <what> error=<cause>" (no other field);
        // the report's, "<what>: <cause>".
        let logged: Vec<&String> = problems
            .iter()
            .filter(|l| {
                l.split_once(": ")
                    .is_some_and(|(_, event)| event.replace(" error=", ": ") == *error)
            })
            .collect();
        assert_eq!(logged.len(), 1, "{error:?} logged as {logged:#?}");
    }
}

#[tokio::test]
async fn store_down_fails_the_run() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.store.arm("list_watches", Fault::Fail);
    let report = h.run().await;
    assert!(report.failed);
    assert_eq!(report.stop_reason, Some(StopReason::StoreUnavailable));
}

#[tokio::test]
async fn api_error_on_one_entry_does_not_stop_the_others() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.watch("example.org").await;
    h.source.push(issuance(1, &["a.example.org"]));
    h.source.state.lock().unwrap().broken_domain = Some("example.com".into());

    let report = h.run().await;
    assert_eq!(report.entries_failed, 1);
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(report.alerts_created.suspicious, 1);
    assert!(
        h.entry("example.com")
            .await
            .last_error
            .unwrap()
            .contains("400")
    );
}

#[tokio::test]
async fn sns_failure_is_retried_by_a_later_run_and_delivered_once() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.notifier.fail_next(1); // the SNS publish (first send of the run)

    let report = h.run().await;
    assert_eq!(report.deliveries_failed, 1);
    assert_eq!(report.deliveries_ok, 1, "the email went out");
    let alert = h.alert(1).await;
    assert_eq!(alert.sns.state, DeliveryState::Queued);
    assert_eq!(alert.sns.attempts, 1);
    assert!(alert.sns.last_error.unwrap().contains("SNS is down"));

    let report = h.run().await;
    assert_eq!(report.deliveries_ok, 1);
    let alert = h.alert(1).await;
    assert_eq!(alert.sns.state, DeliveryState::Sent);
    assert_eq!(alert.sns.attempts, 2);
    assert_eq!(h.notifier.sns().len(), 1);
    assert_eq!(h.notifier.emails().len(), 1);

    h.run().await;
    assert_eq!(h.notifier.sns().len(), 1);
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt() {
    let mut h = Harness::new();
    h.settings.max_delivery_attempts = 2;
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.notifier.fail_next(u32::MAX);

    let first = h.run().await;
    assert_eq!((first.deliveries_failed, first.deliveries_gave_up), (2, 0));
    let second = h.run().await;
    assert_eq!(
        (second.deliveries_failed, second.deliveries_gave_up),
        (0, 2)
    );
    let alert = h.alert(1).await;
    assert_eq!(alert.sns.state, DeliveryState::Failed);
    assert_eq!(alert.email.state, DeliveryState::Failed);
    let third = h.run().await;
    assert_eq!(third.deliveries_failed + third.deliveries_gave_up, 0);
    assert_eq!(h.notifier.fail_next.load(Ordering::SeqCst), u32::MAX - 4);
}

#[tokio::test]
async fn grace_turns_pending_into_info_when_the_certificate_is_pushed_in_time() {
    let mut h = Harness::new();
    h.settings.grace_period = Duration::from_secs(30 * 60);
    h.watch("example.com").await;
    h.source.push(issuance(1, &["www.example.com"]));

    let report = h.run().await;
    assert_eq!(report.alerts_created.pending, 1);
    let alert = h.alert(1).await;
    assert_eq!(alert.severity, Severity::Pending);
    assert_eq!(
        alert.grace_until,
        Some(t0() + chrono::Duration::minutes(30))
    );
    assert!(h.notifier.sns().is_empty(), "nothing sent while pending");

    // The load balancer pushes its certificate ten minutes later.
    h.clock.advance(chrono::Duration::minutes(10));
    h.authorize_tbs(1).await;
    let report = h.run().await;
    assert_eq!(report.pending_resolved.info, 1);
    let alert = h.alert(1).await;
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.authorized_by, Some(AuthorizedBy::TbsSha256));
    assert_eq!(h.sns_bodies()[0]["severity"], "info");
    assert!(
        h.notifier.emails().is_empty(),
        "info is not emailed by default"
    );
    assert_eq!(alert.email.state, DeliveryState::Skipped);
}

#[tokio::test]
async fn grace_expiry_turns_pending_into_suspicious() {
    let mut h = Harness::new();
    h.settings.grace_period = Duration::from_secs(30 * 60);
    h.watch("example.com").await;
    h.source.push(issuance(1, &["www.example.com"]));
    let report = h.run().await;
    // The suspicious-alert alarm (template.yaml) watches AlertsSuspicious: not yet.
    assert_eq!(report.emf()["AlertsPending"], 1);
    assert_eq!(report.emf()["AlertsSuspicious"], 0);

    h.clock.advance(chrono::Duration::minutes(29));
    let report = h.run().await;
    assert_eq!(report.pending_resolved, Default::default());
    assert_eq!(h.alert(1).await.severity, Severity::Pending);
    assert_eq!(report.emf()["AlertsSuspicious"], 0);

    h.clock.advance(chrono::Duration::minutes(1));
    let report = h.run().await;
    assert_eq!(report.pending_resolved.suspicious, 1);
    assert_eq!(h.alert(1).await.severity, Severity::Suspicious);
    // ... and now: the run where grace ends is the one the alarm must see.
    assert_eq!(report.emf()["AlertsSuspicious"], 1);
    assert_eq!(report.emf()["AlertsInfo"], 0);
    assert_eq!(h.sns_bodies()[0]["severity"], "suspicious");
    assert_eq!(h.notifier.emails().len(), 1);
}

#[tokio::test]
async fn baseline_sends_one_summary_once_caught_up() {
    let mut h = Harness::new();
    h.source = FakeSource::new(2);
    h.settings.query_budget = 1;
    h.settings.grace_period = Duration::from_secs(1800);
    h.watch_new("example.com", BackfillMode::Summary).await;
    for n in 1..=3 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }
    h.authorize_tbs(2).await;

    // Run 1 reads one page: baseline not caught up, nothing is sent yet.
    let report = h.run().await;
    assert_eq!(report.baselines_completed, 0);
    assert_eq!(
        report.alerts_created.suspicious, 1,
        "no grace in the baseline"
    );
    assert!(h.notifier.sns().is_empty());
    assert!(h.alert(1).await.baseline);

    // Run 2 reads the rest; run 3 sees the empty page and completes the baseline.
    h.run().await;
    let report = h.run().await;
    assert_eq!(report.baselines_completed, 1);
    assert!(h.entry("example.com").await.baseline_completed_at.is_some());
    let bodies = h.sns_bodies();
    assert_eq!(
        bodies.len(),
        1,
        "one summary, not one message per certificate"
    );
    assert_eq!(bodies[0]["schema"], crate::message::BASELINE_SCHEMA);
    assert_eq!(bodies[0]["domain"], "example.com");
    assert_eq!(bodies[0]["total"], 3);
    assert_eq!(bodies[0]["unauthorized"], 2);
    let emails = h.notifier.emails();
    assert_eq!(emails.len(), 1);
    assert!(emails[0].subject.contains("baseline"));
    assert!(
        emails[0].text.contains("h1.example.com") && !emails[0].text.contains("h2.example.com")
    );
    for n in 1..=3 {
        assert_eq!(h.alert(n).await.sns.state, DeliveryState::Sent);
    }

    // After the baseline, new certificates alert one by one (with grace).
    h.source.push(issuance(4, &["h4.example.com"]));
    h.settings.query_budget = 5;
    let report = h.run().await;
    assert_eq!(report.alerts_created.pending, 1);
    assert!(!h.alert(4).await.baseline);
}

#[tokio::test]
async fn baseline_can_alert_on_each_certificate() {
    let h = Harness::new();
    h.watch_new("example.com", BackfillMode::Alert).await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.source.push(issuance(2, &["b.example.com"]));
    let report = h.run().await;
    assert_eq!(report.baselines_completed, 1);
    assert!(!h.alert(1).await.baseline);
    assert_eq!(h.notifier.sns().len(), 2);
    assert_eq!(h.sns_bodies()[0]["schema"], crate::message::ALERT_SCHEMA);
}

#[tokio::test]
async fn a_certificate_also_matching_an_established_entry_is_not_hidden_in_a_baseline() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.watch_new("shop.example.com", BackfillMode::Summary).await;
    h.source.push(issuance(1, &["www.shop.example.com"]));
    h.run().await;
    let alert = h.alert(1).await;
    assert!(!alert.baseline);
    assert_eq!(alert.matched.len(), 2);
    assert_eq!(h.sns_bodies()[0]["schema"], crate::message::ALERT_SCHEMA);
}

#[tokio::test]
async fn two_runs_at_once_duplicate_nothing() {
    let mut h = Harness::new();
    h.source = FakeSource::new(3);
    for d in ["a.example", "b.example", "c.example"] {
        h.watch(d).await;
    }
    for n in 1..=30 {
        let d = ["a.example", "b.example", "c.example"][(n % 3) as usize];
        h.source.push(issuance(n, &[&format!("h{n}.{d}")]));
    }
    let (p1, p2) = (h.poller(), h.poller());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (r1, r2) = tokio::join!(
        p1.run("run-1".into(), deadline),
        p2.run("run-2".into(), deadline)
    );

    let created = r1.alerts_created.suspicious + r2.alerts_created.suspicious;
    assert_eq!(created, 30, "each alert created by exactly one run");
    assert_eq!(h.alert_count().await, 30);
    // A straggler run catches up whatever a lost compare-and-set left.
    h.run().await;
    assert_eq!(h.alert_count().await, 30);
    let mut published: Vec<String> = h
        .sns_bodies()
        .iter()
        .map(|b| b["tbs_sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(published.len(), 30);
    published.sort();
    published.dedup();
    assert_eq!(published.len(), 30, "no alert published twice");
    for (d, last) in [
        ("a.example", "30"),
        ("b.example", "28"),
        ("c.example", "29"),
    ] {
        assert_eq!(h.entry(d).await.cursor.as_deref(), Some(last));
    }
    // Both runs really overlapped: some compare-and-set was lost, or both read a page.
    assert!(
        r1.issuances_seen + r2.issuances_seen > 30 || r1.entries_polled + r2.entries_polled > 3
    );
}

#[tokio::test]
async fn channels_not_configured_are_skipped_not_left_queued() {
    let h = Harness::new();
    h.watch("example.com").await;
    h.source.push(issuance(1, &["a.example.com"]));
    h.silent_poller()
        .run("r".into(), Instant::now() + Duration::from_secs(60))
        .await;
    let alert = h.alert(1).await;
    assert_eq!(alert.sns.state, DeliveryState::Skipped);
    assert_eq!(alert.email.state, DeliveryState::Skipped);
    assert!(h.store.list_undelivered(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn store_requests_per_page_do_not_grow_with_the_page() {
    async fn requests_for(page: usize) -> u32 {
        let mut h = Harness::new();
        h.source = FakeSource::new(page);
        h.watch("example.com").await;
        for n in 1..=page as u64 {
            h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
        }
        // Channels off: alerts are stored with nothing queued, so only the polling path counts.
        h.store_requests_of_a_silent_run().await
    }
    // One page either way (plus the empty page that says "caught up").
    assert_eq!(requests_for(2).await, requests_for(200).await);
}

/// The issuer policy and the weak-key check use what a run already holds (the watch list and
/// the page): issuances, authorized or not, cost the same store requests with them as
/// without (the goal of issue 10: no extra DynamoDB request per authorized issuance).
#[tokio::test]
async fn detection_checks_add_no_store_request() {
    async fn run_with(checks: bool) -> (u32, Harness) {
        let mut h = Harness::new();
        h.source = FakeSource::new(50);
        h.watch("example.com").await;
        if checks {
            let le = ["letsencrypt.org".to_owned()];
            assert!(
                h.store
                    .set_allowed_issuers(&domain("example.com"), &le)
                    .await
                    .unwrap()
            );
        }
        let path = format!(
            "{}/../../tests/data/weak-keys/rsa-1024.der",
            env!("CARGO_MANIFEST_DIR")
        );
        let der = std::fs::read(path).unwrap();
        let key = ctguard::hash::Sha256Hash::digest(ctguard::cert::spki_der(&der).unwrap());
        for n in 1..=20u64 {
            let mut i = issuance(n, &[&format!("h{n}.example.com")]);
            if checks {
                i.cert_der = Some(der.clone());
                i.pubkey_sha256 = key;
            }
            h.source.push(i);
            if n % 2 == 0 {
                h.authorize_tbs(n).await;
            }
        }
        (h.store_requests_of_a_silent_run().await, h)
    }
    let (plain, h) = run_with(false).await;
    assert!(h.alert(2).await.reasons.is_empty());
    let (checked, h) = run_with(true).await;
    // The checks did run: reasons on the authorized and the unauthorized ones.
    assert_eq!(reason_codes(&h.alert(2).await), ["weak_key"]);
    assert_eq!(
        reason_codes(&h.alert(1).await),
        ["not_in_inventory", "unexpected_issuer", "weak_key"]
    );
    assert_eq!(plain, checked, "store requests without and with the checks");
}

/// Key scopes and compromised marks come with the key records the page's lookup reads anyway:
/// a page whose keys are scoped (some used outside their names) or marked compromised costs
/// the same store requests as one whose keys are plainly authorized.
#[tokio::test]
async fn key_scopes_and_compromised_marks_add_no_store_request() {
    use ctguard::model::{AuthorizedKey, Compromise};
    async fn run_with(checks: bool) -> (u32, Harness) {
        let mut h = Harness::new();
        h.source = FakeSource::new(50);
        h.watch("example.com").await;
        for n in 1..=20u64 {
            h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
            // Scoped to the issuance's own name, or (every third) to another one.
            let scope = if n % 3 == 0 { n + 100 } else { n };
            let scoped = format!("h{scope}.example.com");
            let names: &[&str] = if checks { &[&scoped] } else { &[] };
            let key = authorized_key(hash("key", n), names, "ops", Utc::now());
            h.store.put_key(&key).await.unwrap();
            if checks && n % 5 == 0 {
                let mark = Compromise {
                    at: Utc::now(),
                    by: "ops".into(),
                    note: None,
                };
                h.store
                    .mark_compromised(&AuthorizedKey {
                        compromised: Some(mark),
                        ..key
                    })
                    .await
                    .unwrap();
            }
        }
        (h.store_requests_of_a_silent_run().await, h)
    }
    let (plain, h) = run_with(false).await;
    assert_eq!(h.alert(3).await.severity, ctguard::model::Severity::Info);
    let (checked, h) = run_with(true).await;
    assert!(h.alert(1).await.reasons.is_empty());
    assert_eq!(
        reason_codes(&h.alert(3).await),
        ["not_in_inventory", "key_out_of_scope"]
    );
    assert_eq!(
        reason_codes(&h.alert(5).await),
        ["not_in_inventory", "compromised_key"]
    );
    assert_eq!(plain, checked, "store requests without and with the checks");
}

#[tokio::test]
async fn the_outbox_is_drained_in_batches_within_one_run() {
    let mut h = Harness::new();
    h.settings.outbox_batch = 2;
    h.watch("example.com").await;
    for n in 1..=5 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }
    let report = h.run().await;
    assert_eq!(h.notifier.sns().len(), 5);
    assert_eq!(h.notifier.emails().len(), 3, "one email per outbox batch");
    assert_eq!(report.deliveries_ok, 10);
    assert!(h.store.list_undelivered(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_channel_is_tried_once_per_run_however_small_the_batch() {
    let mut h = Harness::new();
    h.settings.outbox_batch = 2;
    h.watch("example.com").await;
    for n in 1..=3 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }
    h.notifier.fail_next(u32::MAX);
    let report = h.run().await;
    // The first batch fails and stays queued at the head of the outbox; the next read returns
    // the same alerts, already tried: the run does not retry them. It still tries the alert it
    // created that did not fit the first batch (its own alerts do not wait for the outbox),
    // once, and stops when a batch brings nothing new.
    let mut attempts = Vec::new();
    for n in 1..=3 {
        let alert = h.alert(n).await;
        attempts.push((alert.sns.attempts, alert.email.attempts));
    }
    assert_eq!(attempts, [(1, 1), (1, 1), (1, 1)]);
    assert_eq!(report.deliveries_failed, 6, "counted per alert and channel");
    h.notifier.fail_next(u32::MAX);
    let report = h.run().await;
    assert_eq!(
        report.deliveries_failed, 4,
        "a later run retries one batch of leftovers (2 alerts, 2 channels)"
    );
}

#[tokio::test]
async fn a_baseline_larger_than_an_outbox_batch_is_still_one_summary() {
    let mut h = Harness::new();
    h.settings.outbox_batch = 2;
    h.watch_new("example.com", BackfillMode::Summary).await;
    for n in 1..=7 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }
    h.run().await;
    let bodies = h.sns_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["total"], 7);
    assert_eq!(h.notifier.emails().len(), 1);
    assert!(h.store.list_undelivered(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_baseline_beyond_the_summary_cap_is_summarized_over_two_runs() {
    let h = Harness::new();
    h.watch("example.com").await;
    let cap = u64::from(crate::baseline::BASELINE_SUMMARY_MAX);
    for n in 1..=cap + 3 {
        let mut a = alert(n, Severity::Suspicious, &[&format!("h{n}.example.com")]);
        a.baseline = true;
        a.first_seen_at = t0() + chrono::Duration::seconds(n as i64);
        assert!(h.store.create_alert(&a).await.unwrap());
    }
    h.run().await;
    let bodies = h.sns_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["total"], cap, "the newest `cap` of them");
    let left = h.store.list_undelivered(10).await.unwrap();
    let left: Vec<u64> = left
        .iter()
        .map(|a| (a.first_seen_at - t0()).num_seconds() as u64)
        .collect();
    assert_eq!(left, [1, 2, 3], "the oldest wait for the next run");

    h.run().await;
    let bodies = h.sns_bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["total"], 3);
    assert_eq!(h.notifier.emails().len(), 2);
    assert!(h.store.list_undelivered(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn canary_issuances_are_not_alerts_even_under_a_watched_parent() {
    let mut h = Harness::new();
    h.settings.canary_domain = Some(domain("test.certspotter.org"));
    h.watch("certspotter.org").await;
    h.source.push(issuance(1, &["monday.test.certspotter.org"]));
    let report = h.run().await;
    // The ordinary parent entry alerts for it (it is its name), matched to itself only; the
    // canary records it as proof of life, and its cursor moves past it.
    assert_eq!(report.alerts_created.suspicious, 1);
    let alert = h.alert(1).await;
    let matched: Vec<&str> = alert.matched.iter().map(|m| m.entry.as_str()).collect();
    assert_eq!(matched, ["certspotter.org"]);
    let canary = h.entry("test.certspotter.org").await;
    assert!(canary.canary);
    assert_eq!(canary.canary_last_issuance_at, Some(t0()));
    assert_eq!(canary.cursor.as_deref(), Some("1"));
    assert_eq!(report.canary_blind, 0);
}

#[tokio::test]
async fn a_blind_canary_alert_that_fails_to_send_is_retried_next_run() {
    let mut h = Harness::new();
    h.settings.canary_domain = Some(domain("test.certspotter.org"));
    h.run().await; // seeds the canary at t0; nothing logged for it
    h.clock.advance(chrono::Duration::hours(37));
    h.notifier.fail_next.store(1, Ordering::SeqCst);
    let report = h.run().await;
    assert_eq!(report.canary_blind, 1);
    assert_eq!(report.health_alerts_sent, 0);
    assert!(
        h.entry("test.certspotter.org")
            .await
            .blind_alerted_at
            .is_none()
    );

    h.clock.advance(chrono::Duration::minutes(15));
    let report = h.run().await;
    assert_eq!(report.health_alerts_sent, 1);
    let sns = h.notifier.sns.lock().unwrap().clone();
    let blind: Vec<_> = sns
        .iter()
        .filter(|m| m.body.contains("monitor blind: no canary issuance since"))
        .collect();
    assert!(!blind.is_empty());
    assert!(
        h.entry("test.certspotter.org")
            .await
            .blind_alerted_at
            .is_some()
    );
}

#[tokio::test]
async fn huge_watching_windows_never_panic() {
    let mut h = Harness::new();
    h.settings.canary_domain = Some(domain("test.certspotter.org"));
    h.settings.canary_window = Duration::from_secs(u64::MAX);
    h.settings.canary_poll_interval = Duration::from_secs(u64::MAX);
    h.settings.not_logged_window = Duration::from_secs(u64::MAX);
    h.settings.expiry_warning = Duration::from_secs(u64::MAX);
    h.watch("example.com").await;
    let report = h.run().await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.canary_blind, 0);
    assert_eq!(report.pushed_not_logged, 0);
}

#[tokio::test]
async fn a_hash_only_record_expiring_unrenewed_alerts_once_with_unknown_hashes_zeroed() {
    let h = Harness::new();
    h.watch("example.com").await;
    let now = t0();
    let record = InventoryCert {
        not_after: Some(now + chrono::Duration::days(2)),
        ..inventory_cert(hash("tbs", 7), &["www.example.com"], "lb:test", now)
    };
    h.store.put_cert(&record).await.unwrap();
    h.store.record_deployed(&record).await.unwrap();

    let report = h.run().await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.expiring_alerts, 1);
    let id =
        ctguard::rules::expiring_alert_id(&record.tbs_sha256, ctguard::rules::ExpiryStage::Second);
    let alert = h.store.get_alert(&id).await.unwrap().expect("stored");
    assert_eq!(alert.cert_sha256, ctguard::hash::Sha256Hash([0; 32]));
    assert_eq!(
        alert.not_before, now,
        "added_at stands in for an unknown not_before"
    );
    assert_eq!(alert.reasons[0].code, ctguard::model::ReasonCode::Expiring);
    assert_eq!(h.notifier.sns.lock().unwrap().len(), 1);
    // Rerun: nothing more.
    let report = h.run().await;
    assert_eq!(report.expiring_alerts, 0);
    assert_eq!(h.notifier.sns.lock().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Polling several entries at once (`POLL_CONCURRENCY`), paced by one rate limiter. These use
// tokio's paused clock: the fake source's latency and the limiter's waits are virtual time.

/// `n` established entries `e00.example`…; entry `i` gets `per_entry` issuances (ids in log
/// order).
async fn many_entries(h: &Harness, n: u64, per_entry: u64) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("e{i:02}.example")).collect();
    for name in &names {
        h.watch(name).await;
    }
    let mut id = 0;
    for round in 0..per_entry {
        for name in &names {
            id += 1;
            h.source.push(issuance(id, &[&format!("h{round}.{name}")]));
        }
    }
    names
}

#[tokio::test(start_paused = true)]
async fn entries_are_polled_concurrently_never_more_than_the_setting() {
    let mut h = Harness::new();
    h.settings.poll_concurrency = 3;
    h.settings.query_budget = 100;
    h.source.set_latency(Duration::from_millis(300));
    let names = many_entries(&h, 12, 1).await;

    let started = Instant::now();
    let report = h.run().await;
    let elapsed = started.elapsed();

    assert_eq!(report.entries_caught_up, 12);
    assert_eq!(
        report.queries_used, 24,
        "a page and the empty page per entry"
    );
    assert_eq!(report.alerts_created.suspicious, 12);
    assert_eq!(h.source.max_in_flight(), 3, "three at once, never more");
    // 24 queries of 300 ms, three at a time: 2.4 s (one at a time: 7.2 s).
    assert!(
        elapsed < Duration::from_millis(2_500),
        "polling took {elapsed:?}"
    );
    for (i, name) in names.iter().enumerate() {
        let entry = h.entry(name).await;
        assert_eq!(entry.cursor.as_deref(), Some((i + 1).to_string().as_str()));
        assert!(entry.last_success_at.is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn one_rate_limiter_paces_every_worker() {
    let mut h = Harness::new();
    h.settings.poll_concurrency = 4;
    h.source.set_latency(Duration::from_millis(300));
    // 5 requests a second, no burst: one every 200 ms, whichever worker asks.
    h.source
        .set_limiter(Arc::new(ctguard::certspotter::RateLimiter::new(5.0, 1)));
    many_entries(&h, 10, 0).await;

    let started = Instant::now();
    let report = h.run().await;
    let elapsed = started.elapsed();

    assert_eq!(report.entries_caught_up, 10);
    let mut starts: Vec<Instant> = h.source.query_log().iter().map(|q| q.started).collect();
    starts.sort();
    assert_eq!(starts.len(), 10);
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(200),
            "two requests {:?} apart",
            pair[1] - pair[0]
        );
    }
    // Paced, not latency-bound: the last request starts at 1.8 s and ends at 2.1 s (one at
    // a time, latency-bound, it would be 3.0 s).
    assert!(
        elapsed >= Duration::from_millis(2_100) && elapsed < Duration::from_millis(2_500),
        "polling took {elapsed:?}"
    );
    assert!(h.source.max_in_flight() >= 2, "the workers overlap");
}

#[tokio::test(start_paused = true)]
async fn a_429_stops_every_worker_and_keeps_each_entrys_stored_progress() {
    let mut h = Harness::new();
    h.source = FakeSource::new(1);
    h.settings.poll_concurrency = 3;
    h.source.set_latency(Duration::from_millis(300));
    let names = many_entries(&h, 6, 3).await;
    // Three first pages at once succeed, then one more; every later query is a 429.
    h.source.rate_limit_after(4);

    let report = h.run().await;

    assert!(report.stopped(StopReason::RateLimited));
    assert_eq!(report.stop_reason, Some(StopReason::RateLimited));
    assert_eq!(h.source.max_in_flight(), 3);
    let log = h.source.query_log();
    let first_429 = log
        .iter()
        .filter(|q| q.rate_limited)
        .map(|q| q.ended)
        .min()
        .expect("a 429 was answered");
    assert!(
        log.iter().all(|q| q.started < first_429),
        "a request started after the first 429: {log:?}"
    );
    // The first three entries were reached, the other three not at all.
    assert_eq!(report.entries_skipped, 3);
    for name in &names[3..] {
        let entry = h.entry(name).await;
        assert_eq!(entry.cursor, None);
        assert_eq!(entry.last_polled_at, None, "{name} keeps its place");
    }
    // Four pages were answered; each entry's cursor stands on its last stored page.
    assert_eq!(report.alerts_created.suspicious, 4);
    let mut stored_pages = 0;
    let mut paused = 0;
    for (i, name) in names[..3].iter().enumerate() {
        let entry = h.entry(name).await;
        let ids: Vec<String> = (0..3)
            .map(|round| (round * 6 + i + 1).to_string())
            .collect();
        let at = ids
            .iter()
            .position(|id| entry.cursor.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{name}: cursor {:?} not on its pages", entry.cursor));
        stored_pages += at + 1;
        for id in &ids[..=at] {
            assert!(h.alert(id.parse().unwrap()).await.severity == Severity::Suspicious);
        }
        paused += usize::from(entry.rate_limited_until.is_some());
    }
    assert_eq!(stored_pages, 4);
    assert!(paused >= 1, "the 429 is recorded for the next runs");

    // The pause holds the next run entirely.
    let queries = h.source.queries();
    h.run().await;
    assert_eq!(h.source.queries(), queries);
}

#[tokio::test(start_paused = true)]
async fn a_failing_entry_does_not_cost_another_its_cursor() {
    let mut h = Harness::new();
    h.source = FakeSource::new(1);
    h.settings.poll_concurrency = 2;
    h.source.set_latency(Duration::from_millis(300));
    let names = many_entries(&h, 3, 3).await;
    h.source.state.lock().unwrap().broken_domain = Some(names[0].clone());

    let report = h.run().await;

    assert_eq!(h.source.max_in_flight(), 2);
    assert_eq!(report.entries_failed, 1);
    assert_eq!(report.entries_caught_up, 2);
    let broken = h.entry(&names[0]).await;
    assert_eq!(broken.cursor, None);
    assert!(broken.last_error.unwrap().contains("400"));
    for (i, name) in names.iter().enumerate().skip(1) {
        let last = (2 * 3 + i + 1).to_string();
        assert_eq!(h.entry(name).await.cursor.as_deref(), Some(last.as_str()));
    }
    assert_eq!(report.alerts_created.suspicious, 6);
}

#[tokio::test(start_paused = true)]
async fn concurrent_workers_stop_cleanly_at_the_deadline() {
    let mut h = Harness::new();
    h.source = FakeSource::new(1);
    h.settings.poll_concurrency = 4;
    h.settings.query_budget = 100;
    h.source.set_latency(Duration::from_secs(1));
    let names = many_entries(&h, 8, 5).await;
    // Polling may run until 4.5 s; every query takes 1 s.
    h.settings.deadline_margin = Duration::from_millis(500);
    let report = h
        .poller()
        .run("r".into(), Instant::now() + Duration::from_secs(5))
        .await;

    assert!(report.stopped(StopReason::Deadline));
    assert_eq!(report.stop_reason, Some(StopReason::Deadline));
    let log = h.source.query_log();
    let polling_deadline = log[0].started + Duration::from_millis(4_500);
    assert!(
        log.iter().all(|q| q.started < polling_deadline),
        "a request started after the polling deadline"
    );
    // Every stored page moved its entry's cursor; nothing is lost for the next run.
    let mut pages = 0;
    for name in &names {
        let entry = h.entry(name).await;
        if let Some(cursor) = entry.cursor {
            let cursor: u64 = cursor.parse().unwrap();
            for n in (1..=cursor).filter(|n| names[((n - 1) % 8) as usize] == *name) {
                h.alert(n).await;
                pages += 1;
            }
        }
    }
    assert_eq!(pages as u32, report.alerts_created.suspicious);
    assert_eq!(
        report.entries_skipped, 4,
        "four workers, four entries reached"
    );
}

/// The rotation rule: with a budget of Q queries a run and N entries that cost one query each
/// (nothing new: the steady state), every entry is polled at least once every K = ⌈N / Q⌉
/// runs, whatever the concurrency: each run polls the least recently polled entries first,
/// and an entry not reached keeps its place.
#[tokio::test]
async fn every_entry_is_polled_at_least_once_every_k_runs() {
    for concurrency in [1, 2, 4] {
        let mut h = Harness::new();
        h.settings.poll_concurrency = concurrency;
        h.settings.query_budget = 3;
        let names = many_entries(&h, 10, 0).await;
        let k = 10usize.div_ceil(3);
        assert_eq!(k, 4);

        let mut polled_in_run: Vec<Vec<String>> = Vec::new();
        for _ in 0..12 {
            h.clock.advance(chrono::Duration::minutes(15));
            let now = *h.clock.0.lock().unwrap();
            let report = h.run().await;
            assert_eq!(report.queries_used, 3);
            let mut polled = Vec::new();
            for name in &names {
                if h.entry(name).await.last_polled_at == Some(now) {
                    polled.push(name.clone());
                }
            }
            assert_eq!(polled.len(), 3, "concurrency {concurrency}");
            polled_in_run.push(polled);
        }
        for window in polled_in_run.windows(k) {
            for name in &names {
                assert!(
                    window.iter().any(|run| run.contains(name)),
                    "concurrency {concurrency}: {name} not polled within {k} runs"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery in batches (issue 13 §2)

/// How many SNS messages carry each alert (by its TBS hash in the body).
fn sns_per_alert(h: &Harness) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for body in h.sns_bodies() {
        *counts
            .entry(body["tbs_sha256"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

async fn with_alerts(n: u64) -> Harness {
    let h = Harness::new();
    h.watch("example.com").await;
    for i in 1..=n {
        h.source.push(issuance(i, &[&format!("h{i}.example.com")]));
    }
    h
}

/// Runs until the run is stuck (hung notifier or store) and drops it there: a crash.
async fn crash(h: &Harness) {
    let run = tokio::time::timeout(Duration::from_millis(500), h.run()).await;
    assert!(
        run.is_err(),
        "the run was expected to hang where it crashes"
    );
}

#[tokio::test]
async fn sns_goes_out_by_publish_batch_of_ten_and_one_by_one_with_delivery_batch_1() {
    let h = with_alerts(25).await;
    let report = h.run().await;
    assert_eq!(
        report.deliveries_ok,
        25 + 25,
        "each alert on SNS and in the email"
    );
    assert_eq!(h.notifier.emails().len(), 1);
    assert_eq!(*h.notifier.sns_requests.lock().unwrap(), [10, 10, 5]);
    let counts = sns_per_alert(&h);
    assert_eq!(counts.len(), 25);
    assert!(counts.values().all(|&c| c == 1));
    // Each entry maps back to its alert: its message id is recorded on that alert.
    let mut ids = std::collections::HashSet::new();
    for i in 1..=25 {
        let alert = h.alert(i).await;
        assert_eq!(alert.sns.state, DeliveryState::Sent);
        assert!(ids.insert(alert.sns.message_id.unwrap()));
    }
    // Per entry: each message's attributes are its own alert's.
    for message in h.notifier.sns() {
        let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        let severity = message.attributes.iter().find(|a| a.name == "severity");
        assert_eq!(severity.unwrap().value, body["severity"].as_str().unwrap());
    }

    let mut h = with_alerts(3).await;
    h.settings.delivery_batch = 1;
    h.run().await;
    assert_eq!(*h.notifier.sns_requests.lock().unwrap(), [1, 1, 1]);
    assert_eq!(sns_per_alert(&h).len(), 3);
}

#[tokio::test]
async fn a_batch_entry_refused_as_sender_fault_fails_at_once_others_are_retried() {
    let h = with_alerts(3).await;
    *h.notifier.failing_entries.lock().unwrap() = vec![
        (hash("tbs", 1).to_hex(), true),
        (hash("tbs", 2).to_hex(), false),
    ];
    let report = h.run().await;
    assert_eq!(report.deliveries_gave_up, 1);
    assert_eq!(report.deliveries_failed, 1);
    let refused = h.alert(1).await;
    assert_eq!(refused.sns.state, DeliveryState::Failed);
    assert_eq!(refused.sns.attempts, 1, "a sender fault is not retried");
    let transient = h.alert(2).await;
    assert_eq!(transient.sns.state, DeliveryState::Queued);
    assert_eq!(transient.sns.attempts, 1);
    assert_eq!(h.alert(3).await.sns.state, DeliveryState::Sent);
    assert_eq!(
        h.alert(1).await.email.state,
        DeliveryState::Sent,
        "email is independent"
    );

    h.notifier.failing_entries.lock().unwrap().clear();
    h.run().await;
    assert_eq!(h.alert(2).await.sns.state, DeliveryState::Sent);
    assert_eq!(h.alert(1).await.sns.state, DeliveryState::Failed);
    let counts = sns_per_alert(&h);
    assert_eq!(counts.get(&hash("tbs", 1).to_hex()), None);
    assert_eq!(counts.len(), 2);
}

#[tokio::test]
async fn crash_between_claim_and_publish_delivers_everything_once_after_the_lease() {
    let h = with_alerts(12).await;
    h.notifier.hang.store(true, Ordering::SeqCst);
    crash(&h).await;
    assert!(h.notifier.sns().is_empty());
    h.notifier.hang.store(false, Ordering::SeqCst);

    // The crashed run's leases hold: nothing is sent twice meanwhile.
    h.run().await;
    assert!(h.notifier.sns().is_empty());
    assert_eq!(h.alert(1).await.sns.state, DeliveryState::Queued);

    h.clock.advance(chrono::Duration::minutes(6));
    h.run().await;
    let counts = sns_per_alert(&h);
    assert_eq!(counts.len(), 12, "none lost");
    assert!(counts.values().all(|&c| c == 1), "none twice: {counts:?}");
    h.run().await;
    assert_eq!(h.notifier.sns().len(), 12);
    assert_eq!(h.notifier.emails().len(), 1);
}

#[tokio::test]
async fn crash_between_publish_and_record_sends_again_after_the_lease_never_loses() {
    let h = with_alerts(12).await;
    h.store.arm("record_delivery", Fault::Hang);
    crash(&h).await;
    // Published (the first chunk), not recorded.
    assert_eq!(h.notifier.sns().len(), 12);
    assert_eq!(h.alert(1).await.sns.state, DeliveryState::Queued);
    h.store.disarm("record_delivery");

    h.run().await;
    assert_eq!(h.notifier.sns().len(), 12, "leased: not sent again yet");

    h.clock.advance(chrono::Duration::minutes(6));
    h.run().await;
    // The documented at-least-once window: the crashed chunk is sent again, once.
    let counts = sns_per_alert(&h);
    assert_eq!(counts.len(), 12);
    assert!(counts.values().all(|&c| c == 2), "{counts:?}");
    for i in 1..=12 {
        assert_eq!(h.alert(i).await.sns.state, DeliveryState::Sent);
    }
    h.run().await;
    assert_eq!(h.notifier.sns().len(), 24, "and then never again");
}

#[tokio::test]
async fn a_throttled_channel_rests_for_the_run_without_spending_attempts() {
    let mut h = with_alerts(25).await;
    h.settings.max_delivery_attempts = 1; // a counted failure would fail the alert for good
    h.settings.delivery_batch = 10; // claimed 10 at a time
    h.notifier.throttle_next(1); // the first PublishBatch
    let report = h.run().await;
    assert_eq!(
        *h.notifier.sns_requests.lock().unwrap(),
        [10],
        "no more SNS requests once throttled"
    );
    assert_eq!(
        report.deliveries_throttled, 10,
        "the claimed chunk is released"
    );
    assert_eq!(
        (report.deliveries_failed, report.deliveries_gave_up),
        (0, 0)
    );
    assert_eq!(report.deliveries_ok, 25, "email is independent");
    let mut released = 0;
    for i in 1..=25 {
        let alert = h.alert(i).await;
        assert_eq!(
            (alert.sns.state, alert.sns.attempts),
            (DeliveryState::Queued, 0),
            "alert {i}"
        );
        match alert.sns.last_error {
            Some(e) if e.starts_with("throttled: ") => released += 1,
            Some(e) => panic!("alert {i}: {e}"),
            None => {} // never claimed
        }
    }
    assert_eq!(released, 10, "only the first chunk was claimed");

    let report = h.run().await;
    assert_eq!(report.deliveries_ok, 25);
    let counts = sns_per_alert(&h);
    assert_eq!(counts.len(), 25);
    assert!(counts.values().all(|&c| c == 1), "each sent once");
    assert_eq!(h.alert(1).await.sns.attempts, 1);
}

#[tokio::test]
async fn a_throttled_email_and_summary_are_released_not_failed() {
    let mut h = Harness::new();
    h.settings.max_delivery_attempts = 1;
    h.watch_new("example.com", BackfillMode::Summary).await;
    h.watch_new("example.org", BackfillMode::Summary).await;
    for n in 1..=3 {
        h.source.push(issuance(n, &[&format!("h{n}.example.com")]));
    }
    h.source.push(issuance(4, &["h4.example.org"]));
    h.notifier.throttle_next(2); // the first entry's SNS summary, then the first email
    let report = h.run().await;
    assert_eq!(
        (report.deliveries_failed, report.deliveries_gave_up),
        (0, 0)
    );
    assert!(h.notifier.sns().is_empty(), "the second summary waits too");
    assert!(h.notifier.emails().is_empty());
    for n in 1..=4 {
        let alert = h.alert(n).await;
        assert_eq!(
            (alert.sns.state, alert.sns.attempts),
            (DeliveryState::Queued, 0)
        );
        assert_eq!(
            (alert.email.state, alert.email.attempts),
            (DeliveryState::Queued, 0)
        );
    }

    h.run().await;
    let totals: Vec<u64> = h
        .sns_bodies()
        .iter()
        .map(|b| b["total"].as_u64().unwrap())
        .collect();
    assert_eq!(totals.len(), 2, "one summary per entry");
    assert_eq!(totals.iter().sum::<u64>(), 4);
    assert_eq!(h.notifier.emails().len(), 2);
    assert!(h.store.list_undelivered(10).await.unwrap().is_empty());
}

fn reason_codes(alert: &ctguard::model::Alert) -> Vec<&str> {
    alert.reasons.iter().map(|r| r.code.as_str()).collect()
}
