//! Fakes for fast unit tests: a scripted issuance source, notifiers that fail on demand, and
//! record builders. The store is the in-memory one, whose fault hook makes it fail on demand
//! (`MemoryStore::arm`). Integration tests use the real ones.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ctguard::certspotter::{
    Budget, FetchError, Issuance, IssuancePage, IssuanceQuery, RateLimiter,
};
use tokio::time::Instant;

use crate::notify::{Email, Mailer, NotifyError, Publisher, SnsMessage};
use crate::source::{IssuancePager, IssuanceSource};

pub use ctguard_core::fixtures::{
    alert, authorized_key, domain, entry_match, hash, inventory_cert, issuance, pending_alert, t0,
};

// ---------------------------------------------------------------------------------------------
// Issuance source

/// A CT "log" shared by every pager: issuances in discovery order, served `page_size` at a time
/// to the domains they fall under, with scripted 429s.
#[derive(Clone, Default)]
pub struct FakeSource {
    pub state: Arc<Mutex<SourceState>>,
}

#[derive(Default)]
pub struct SourceState {
    pub log: Vec<Issuance>,
    pub page_size: usize,
    /// Answer the next N queries with 429 (after `rate_limit_after` successful ones).
    pub rate_limit_after: Option<u32>,
    /// Queries for this domain fail with an API error.
    pub broken_domain: Option<String>,
    pub queries: u32,
    /// How long each query takes (tokio time: use the paused clock).
    pub latency: std::time::Duration,
    /// Every query waits for a turn here first, as the Cert Spotter client does.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Queries answered right now, and the most at once.
    pub in_flight: u32,
    pub max_in_flight: u32,
    /// Every query: when it started and ended, and whether it was answered with a 429.
    pub log_of_queries: Vec<QueryRecord>,
}

#[derive(Debug, Clone)]
pub struct QueryRecord {
    pub started: Instant,
    pub ended: Instant,
    pub rate_limited: bool,
}

impl FakeSource {
    pub fn new(page_size: usize) -> Self {
        let source = Self::default();
        source.state.lock().unwrap().page_size = page_size;
        source
    }

    pub fn push(&self, issuance: Issuance) {
        self.state.lock().unwrap().log.push(issuance);
    }

    pub fn queries(&self) -> u32 {
        self.state.lock().unwrap().queries
    }

    pub fn rate_limit_after(&self, successful_queries: u32) {
        self.state.lock().unwrap().rate_limit_after = Some(successful_queries);
    }

    pub fn set_latency(&self, latency: std::time::Duration) {
        self.state.lock().unwrap().latency = latency;
    }

    pub fn set_limiter(&self, limiter: Arc<RateLimiter>) {
        self.state.lock().unwrap().limiter = Some(limiter);
    }

    pub fn max_in_flight(&self) -> u32 {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn query_log(&self) -> Vec<QueryRecord> {
        self.state.lock().unwrap().log_of_queries.clone()
    }
}

fn covers(domain: &str, name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    name == domain || name.ends_with(&format!(".{domain}"))
}

pub struct FakePager {
    state: Arc<Mutex<SourceState>>,
    domain: String,
    /// The cursor: the id of the last issuance returned.
    cursor: Option<String>,
}

impl IssuanceSource for FakeSource {
    type Pager = FakePager;

    fn pages(&self, query: IssuanceQuery, after: Option<String>) -> FakePager {
        FakePager {
            state: self.state.clone(),
            domain: query.domain,
            cursor: after,
        }
    }
}

impl IssuancePager for FakePager {
    async fn next_page(&mut self, budget: &mut Budget) -> Result<Option<IssuancePage>, FetchError> {
        // Give concurrent runs in a test a chance to interleave, as network I/O would.
        tokio::task::yield_now().await;
        if Instant::now() >= budget.deadline {
            return Err(FetchError::DeadlineReached);
        }
        if budget.queries_left == 0 {
            return Err(FetchError::BudgetExhausted);
        }
        budget.queries_left -= 1;
        let (latency, limiter) = {
            let state = self.state.lock().unwrap();
            (state.latency, state.limiter.clone())
        };
        if let Some(limiter) = limiter {
            limiter.acquire().await;
        }
        let started = Instant::now();
        {
            let mut state = self.state.lock().unwrap();
            state.in_flight += 1;
            state.max_in_flight = state.max_in_flight.max(state.in_flight);
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut state = self.state.lock().unwrap();
        state.in_flight -= 1;
        let rate_limited = state.rate_limit_after == Some(0);
        state.log_of_queries.push(QueryRecord {
            started,
            ended: Instant::now(),
            rate_limited,
        });
        state.queries += 1;
        if let Some(after) = state.rate_limit_after {
            if after == 0 {
                return Err(FetchError::RateLimited {
                    retry_after: Some(std::time::Duration::from_secs(120)),
                });
            }
            state.rate_limit_after = Some(after - 1);
        }
        if state.broken_domain.as_deref() == Some(self.domain.as_str()) {
            return Err(FetchError::Api {
                status: 400,
                code: Some("bad_request".into()),
                message: "scripted failure".into(),
            });
        }
        let after: Option<u64> = self
            .cursor
            .as_deref()
            .map(|a| a.parse().expect("numeric cursor"));
        let issuances: Vec<Issuance> = state
            .log
            .iter()
            .filter(|i| after.is_none_or(|a| i.id.parse::<u64>().unwrap() > a))
            .filter(|i| i.dns_names.iter().any(|n| covers(&self.domain, n)))
            .take(state.page_size)
            .cloned()
            .collect();
        let page = IssuancePage::new(self.cursor.clone(), issuances);
        if let Some(page) = &page {
            self.cursor = Some(page.cursor.clone());
        }
        Ok(page)
    }
}

// ---------------------------------------------------------------------------------------------
// Notifiers

/// Records what it sends; fails the next `fail_next` sends, throttles the next `throttle_next`.
#[derive(Clone, Default)]
pub struct FakeNotifier {
    pub sns: Arc<Mutex<Vec<SnsMessage>>>,
    pub emails: Arc<Mutex<Vec<Email>>>,
    pub fail_next: Arc<AtomicU32>,
    pub throttle_next: Arc<AtomicU32>,
    /// Sizes of the SNS requests: 1 per Publish, n per PublishBatch.
    pub sns_requests: Arc<Mutex<Vec<usize>>>,
    /// PublishBatch entries whose body contains the key fail (the value: permanently).
    pub failing_entries: Arc<Mutex<Vec<(String, bool)>>>,
    /// While set, SNS never answers: the run is stuck there (a test drops it: a crash).
    pub hang: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeNotifier {
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn throttle_next(&self, n: u32) {
        self.throttle_next.store(n, Ordering::SeqCst);
    }

    /// The failure the next send meets, if any (`what`: the service, for the message).
    fn next_failure(&self, what: &str) -> Option<NotifyError> {
        let take = |counter: &AtomicU32| {
            counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        };
        if take(&self.throttle_next) {
            Some(NotifyError::Throttled(format!("{what}: Rate exceeded")))
        } else if take(&self.fail_next) {
            Some(NotifyError::Failed(format!("{what} is down")))
        } else {
            None
        }
    }

    pub fn sns(&self) -> Vec<SnsMessage> {
        self.sns.lock().unwrap().clone()
    }

    pub fn emails(&self) -> Vec<Email> {
        self.emails.lock().unwrap().clone()
    }
}

impl Publisher for FakeNotifier {
    async fn publish(&self, message: &SnsMessage) -> Result<String, NotifyError> {
        tokio::task::yield_now().await;
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.sns_requests.lock().unwrap().push(1);
        if let Some(e) = self.next_failure("SNS") {
            return Err(e);
        }
        let mut sent = self.sns.lock().unwrap();
        sent.push(message.clone());
        Ok(format!("sns-{}", sent.len()))
    }

    async fn publish_batch(&self, messages: &[SnsMessage]) -> Vec<Result<String, NotifyError>> {
        tokio::task::yield_now().await;
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.sns_requests.lock().unwrap().push(messages.len());
        if let Some(e) = self.next_failure("SNS") {
            return vec![Err(e); messages.len()];
        }
        messages.iter().map(|m| self.publish_entry(m)).collect()
    }
}

impl FakeNotifier {
    fn publish_entry(&self, message: &SnsMessage) -> Result<String, NotifyError> {
        let failing = self.failing_entries.lock().unwrap().clone();
        if let Some((_, permanent)) = failing.iter().find(|(k, _)| message.body.contains(k)) {
            let text = "entry refused".to_owned();
            return Err(if *permanent {
                NotifyError::Rejected(text)
            } else {
                NotifyError::Failed(text)
            });
        }
        let mut sent = self.sns.lock().unwrap();
        sent.push(message.clone());
        Ok(format!("sns-{}", sent.len()))
    }
}

impl Mailer for FakeNotifier {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        tokio::task::yield_now().await;
        if let Some(e) = self.next_failure("SES") {
            return Err(e);
        }
        let mut sent = self.emails.lock().unwrap();
        sent.push(email.clone());
        Ok(format!("ses-{}", sent.len()))
    }
}

/// An adjustable clock shared with the poller.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn as_clock(&self) -> crate::run::Clock {
        let inner = self.0.clone();
        Arc::new(move || *inner.lock().unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

/// The log lines written while it is the default subscriber (`set_default` on this thread:
/// use it from a current-thread test), formatted as in production without colours.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
