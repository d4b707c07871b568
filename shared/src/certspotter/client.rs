//! `GET /v1/issuances` with retries, rate-limit handling, deadlines and query budgets.
//!
//! Rules (what the poller relies on):
//! - **Every HTTP request is a query**, retries included: the Cert Spotter rate limit counts
//!   requests, so the budget does too. A request is only started with `queries_left > 0`.
//! - **No request that could outlive the deadline**: a request is only started when the time
//!   left is at least `request_timeout` (each request, body included, is bounded by it), and a
//!   retry only when its wait plus `request_timeout` still fits.
//! - 429: `Retry-After` (delta-seconds or HTTP date) is honoured when the wait fits the
//!   deadline (and budget and retry bound), else the fetch stops with
//!   [`FetchError::RateLimited`]. Without `Retry-After` it stops at once.
//! - 5xx, connection errors, bodies cut off mid-transfer and timeouts are retried with full
//!   jitter exponential backoff, at most `max_retries` times. Other statuses are final.
//! - A page is returned whole or not at all: a body over `max_body_bytes`, or one that is not a
//!   JSON array of issuances, is an error, and the cursor does not move.
//! - When a retry is cut short by the budget or the deadline, the last failure is returned
//!   (it says more than "budget exhausted"); `BudgetExhausted` / `DeadlineReached` mean no
//!   request for this page was started at all.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use tokio::time::Instant;

use super::limiter::RateLimiter;
use super::model::{Issuance, parse_page};

/// The public Cert Spotter API.
pub const DEFAULT_BASE_URL: &str = "https://api.certspotter.com";

/// Expansions always requested: everything ctguard classifies or shows in an alert.
pub const EXPANSIONS: [&str; 5] = [
    "dns_names",
    "issuer",
    "revocation",
    "problem_reporting",
    "cert_der",
];

/// Sent on every request so SSLMate can tell who is calling.
pub const USER_AGENT: &str = concat!(
    "ctguard/",
    env!("CARGO_PKG_VERSION"),
    " (Certificate Transparency monitor)"
);

/// Error bodies are only read this far (they are small JSON objects).
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Client settings; read from configuration once.
#[derive(Clone)]
pub struct ClientConfig {
    /// Default `https://api.certspotter.com`.
    pub base_url: String,
    pub token: Option<String>,
    /// Bound on one request, from connecting to the last body byte.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Retries for 5xx and timeouts (jittered exponential backoff); also bounds 429 waits.
    pub max_retries: u32,
    /// Backoff ceiling before the first retry; doubles per retry (full jitter: the actual wait
    /// is uniform in `0..=ceiling`).
    pub retry_base_delay: Duration,
    /// Largest backoff ceiling.
    pub retry_max_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token: None,
            request_timeout: Duration::from_secs(20),
            max_body_bytes: 16 * 1024 * 1024,
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
        }
    }
}

// The token must never reach a log line.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .finish()
    }
}

/// What a caller allows a fetch to spend: every HTTP request (retries included) is a query.
#[derive(Debug, Clone)]
pub struct Budget {
    pub deadline: Instant,
    pub queries_left: u32,
}

/// One watch entry's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceQuery {
    pub domain: String,
    pub include_subdomains: bool,
    pub match_wildcards: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("rate limited by Cert Spotter (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("query budget exhausted")]
    BudgetExhausted,
    #[error("deadline reached: not enough time left for another request")]
    DeadlineReached,
    #[error("invalid Cert Spotter client configuration: {0}")]
    InvalidConfig(String),
    /// A status that retrying cannot fix (4xx other than 429), with the API's error object.
    #[error("Cert Spotter API error {status}: {} ({message})", code.as_deref().unwrap_or("no code"))]
    Api {
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("Cert Spotter server error {status} after {attempts} attempt(s)")]
    ServerError { status: u16, attempts: u32 },
    #[error("Cert Spotter request timed out after {timeout:?} ({attempts} attempt(s))")]
    Timeout { timeout: Duration, attempts: u32 },
    #[error("Cert Spotter request failed after {attempts} attempt(s): {source}")]
    Transport {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("Cert Spotter response larger than {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("Cert Spotter response is not a valid page of issuances: {source}")]
    MalformedBody {
        #[source]
        source: serde_json::Error,
    },
    /// The last issuance of a page is the one we asked to start after: paging would loop.
    #[error("Cert Spotter paging did not advance past issuance {cursor}")]
    CursorDidNotAdvance { cursor: String },
}

impl FetchError {
    /// Whether the caller may simply try again later (nothing is wrong with the request).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::InvalidConfig(_) | Self::Api { .. } | Self::CursorDidNotAdvance { .. }
        )
    }
}

#[derive(Clone)]
pub struct CertSpotterClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    auth: Option<HeaderValue>,
    config: Arc<ClientConfig>,
    /// Paces every request (retries included) and shares 429 pauses; `None`: unpaced.
    limiter: Option<Arc<RateLimiter>>,
}

impl fmt::Debug for CertSpotterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSpotterClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("config", &self.config)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl CertSpotterClient {
    pub fn new(config: ClientConfig) -> Result<Self, FetchError> {
        let base = config.base_url.trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/v1/issuances")).map_err(|e| {
            FetchError::InvalidConfig(format!("base URL {:?}: {e}", config.base_url))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(FetchError::InvalidConfig(format!(
                "base URL {:?} is not http(s)",
                config.base_url
            )));
        }
        if config.request_timeout.is_zero() {
            return Err(FetchError::InvalidConfig(
                "request_timeout must be positive".into(),
            ));
        }
        let auth = match config.token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        FetchError::InvalidConfig("API token contains invalid characters".into())
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Never forward the bearer token elsewhere; the API does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|e| FetchError::InvalidConfig(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint,
            auth,
            config: Arc::new(config),
            limiter: None,
        })
    }

    /// Paces every request of this client and its clones by `limiter` (shared with whoever
    /// else holds it), which a 429's `Retry-After` also pauses.
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// A pager over the issuances after `after` (exclusive; `None` = from the beginning).
    pub fn pages(&self, query: IssuanceQuery, after: Option<String>) -> Pager {
        Pager {
            client: self.clone(),
            query,
            cursor: after,
            caught_up: false,
        }
    }

    /// Fetches one page body, retrying as the module rules say.
    async fn fetch_page(
        &self,
        query: &IssuanceQuery,
        after: Option<&str>,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, FetchError> {
        let timeout = self.config.request_timeout;
        let mut attempts: u32 = 0;
        let mut last_failure: Option<Failure> = None;
        loop {
            let stop = if budget.queries_left == 0 {
                Some(FetchError::BudgetExhausted)
            } else if !fits(budget, timeout) {
                Some(FetchError::DeadlineReached)
            } else {
                None
            };
            if let Some(stop) = stop {
                return Err(match last_failure {
                    Some(failure) => failure.into_error(attempts, timeout),
                    None => stop,
                });
            }
            if let Some(limiter) = &self.limiter {
                // Our turn must still leave `timeout` before the deadline.
                let latest = budget
                    .deadline
                    .checked_sub(timeout)
                    .unwrap_or_else(Instant::now);
                if !limiter.acquire_by(latest).await {
                    return Err(match last_failure {
                        Some(failure) => failure.into_error(attempts, timeout),
                        None => FetchError::DeadlineReached,
                    });
                }
            }
            budget.queries_left -= 1;
            attempts += 1;
            tracing::debug!(domain = %query.domain, after, attempt = attempts, "GET /v1/issuances");

            let failure = match self.attempt(query, after, timeout).await {
                Ok(body) => return Ok(body),
                Err(Attempt::Final(err)) => return Err(err),
                Err(Attempt::Retryable(failure)) => failure,
            };

            let can_retry = attempts <= self.config.max_retries && budget.queries_left > 0;
            let wait = match &failure {
                Failure::RateLimited(retry_after) => {
                    let Some(wait) = *retry_after else {
                        return Err(failure.into_error(attempts, timeout));
                    };
                    // The limit is per account: every request of the process waits it out.
                    // (A wait past the clock's range cannot fit the deadline either: the fetch
                    // stops below and the poller records the pause.)
                    if let (Some(limiter), Some(until)) =
                        (&self.limiter, Instant::now().checked_add(wait))
                    {
                        limiter.pause_until(until);
                    }
                    if !can_retry || !fits(budget, wait + timeout) {
                        tracing::warn!(domain = %query.domain, ?wait, "rate limited; wait does not fit, stopping");
                        return Err(failure.into_error(attempts, timeout));
                    }
                    wait
                }
                _ => {
                    let wait = self.backoff(attempts);
                    if !can_retry || !fits(budget, wait + timeout) {
                        return Err(failure.into_error(attempts, timeout));
                    }
                    wait
                }
            };
            tracing::warn!(domain = %query.domain, after, attempt = attempts, ?wait, reason = %failure, "Cert Spotter request failed; retrying");
            tokio::time::sleep(wait).await;
            last_failure = Some(failure);
        }
    }

    /// Full jitter: uniform in `0..=min(max, base * 2^(attempt-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let ceiling = self
            .config
            .retry_base_delay
            .saturating_mul(factor)
            .min(self.config.retry_max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// One HTTP request, body included, bounded by `timeout`.
    async fn attempt(
        &self,
        query: &IssuanceQuery,
        after: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Attempt> {
        let mut params: Vec<(&str, &str)> = vec![
            ("domain", &query.domain),
            ("include_subdomains", bool_str(query.include_subdomains)),
            ("match_wildcards", bool_str(query.match_wildcards)),
        ];
        if let Some(after) = after {
            params.push(("after", after));
        }
        params.extend(EXPANSIONS.iter().map(|e| ("expand", *e)));
        let mut request = self.http.get(self.endpoint.clone()).query(&params);
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }

        let exchange = async {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status();
            if status.is_success() {
                return read_capped(&mut response, self.config.max_body_bytes).await;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                return Err(Attempt::Retryable(Failure::RateLimited(retry_after)));
            }
            if status.is_server_error() {
                return Err(Attempt::Retryable(Failure::Status(status)));
            }
            let body = read_capped(&mut response, MAX_ERROR_BODY_BYTES)
                .await
                .unwrap_or_default();
            Err(Attempt::Final(api_error(status, &body)))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Attempt::Retryable(Failure::Timeout)),
        }
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn fits(budget: &Budget, needed: Duration) -> bool {
    budget.deadline.saturating_duration_since(Instant::now()) >= needed
}

/// Reads the body chunk by chunk, stopping as soon as it passes `limit`.
async fn read_capped(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, Attempt> {
    let too_large = || Attempt::Final(FetchError::ResponseTooLarge { limit });
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(err: reqwest::Error) -> Attempt {
    if err.is_timeout() {
        Attempt::Retryable(Failure::Timeout)
    } else {
        Attempt::Retryable(Failure::Transport(err))
    }
}

/// The API's error object.
#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn api_error(status: StatusCode, body: &[u8]) -> FetchError {
    let parsed = serde_json::from_slice::<ApiErrorBody>(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code.clone());
    let message = parsed.and_then(|b| b.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text: String = text.chars().take(200).collect();
        if text.trim().is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            text
        }
    });
    FetchError::Api {
        status: status.as_u16(),
        code,
        message,
    }
}

/// `Retry-After`: delta-seconds or an HTTP date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How one request ended when it did not return a body.
enum Attempt {
    Retryable(Failure),
    Final(FetchError),
}

enum Failure {
    RateLimited(Option<Duration>),
    Status(StatusCode),
    Timeout,
    Transport(reqwest::Error),
}

impl Failure {
    fn into_error(self, attempts: u32, timeout: Duration) -> FetchError {
        match self {
            Failure::RateLimited(retry_after) => FetchError::RateLimited { retry_after },
            Failure::Status(status) => FetchError::ServerError {
                status: status.as_u16(),
                attempts,
            },
            Failure::Timeout => FetchError::Timeout { timeout, attempts },
            Failure::Transport(source) => FetchError::Transport { attempts, source },
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RateLimited(after) => write!(f, "429 rate limited (retry after {after:?})"),
            Failure::Status(status) => write!(f, "HTTP {status}"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Transport(err) => write!(f, "{err}"),
        }
    }
}

/// One page of issuances, never empty: what [`Pager::next_page`] returns. It says where it
/// starts and ends, so a caller storing the cursor by compare-and-set needs no copy of its own:
/// the pager is the one holder of the cursor, and a page cannot be without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuancePage {
    /// The cursor this page was fetched after (`None`: from the beginning).
    pub after: Option<String>,
    /// The issuances, in Cert Spotter order; at least one.
    pub issuances: Vec<Issuance>,
    /// The id of the last issuance: where the next page starts (what to store).
    pub cursor: String,
}

impl IssuancePage {
    /// A page from what the API returned after `after`; `None` for an empty one.
    pub fn new(after: Option<String>, issuances: Vec<Issuance>) -> Option<Self> {
        let cursor = issuances.last()?.id.clone();
        Some(Self {
            after,
            issuances,
            cursor,
        })
    }
}

/// Pages through issuances. The caller processes each page, then calls `next_page` again;
/// each page carries its own resume cursor ([`IssuancePage::cursor`]: the id of its last
/// issuance, what to store), and `resume_cursor()` is the last one returned.
pub struct Pager {
    client: CertSpotterClient,
    query: IssuanceQuery,
    cursor: Option<String>,
    caught_up: bool,
}

impl Pager {
    /// `Ok(Some(page))` with a non-empty page, `Ok(None)` when caught up (empty page),
    /// `Err` when stopped (rate limited, budget, deadline, API or transport error).
    /// After `Ok(None)` further calls return `Ok(None)` without a request; on `Err` the cursor
    /// is unchanged and calling again retries the same page.
    pub async fn next_page(
        &mut self,
        budget: &mut Budget,
    ) -> Result<Option<IssuancePage>, FetchError> {
        if self.caught_up {
            return Ok(None);
        }
        let body = self
            .client
            .fetch_page(&self.query, self.cursor.as_deref(), budget)
            .await?;
        let issuances = parse_page(&body).map_err(|source| FetchError::MalformedBody { source })?;
        let Some(page) = IssuancePage::new(self.cursor.clone(), issuances) else {
            self.caught_up = true;
            return Ok(None);
        };
        if self.cursor.as_deref() == Some(page.cursor.as_str()) {
            return Err(FetchError::CursorDidNotAdvance {
                cursor: page.cursor,
            });
        }
        tracing::debug!(domain = %self.query.domain, issuances = page.issuances.len(), last = %page.cursor, "page received");
        self.cursor = Some(page.cursor.clone());
        Ok(Some(page))
    }

    pub fn resume_cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// True once an empty page was received.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_http_date_is_relative_to_now() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        // A date already passed means "retry now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_none() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("99999999999999999999999", now), None);
    }

    #[test]
    fn backoff_is_within_the_doubling_ceiling() {
        let client = CertSpotterClient::new(ClientConfig {
            retry_base_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_millis(350),
            ..ClientConfig::default()
        })
        .expect("client");
        for _ in 0..200 {
            assert!(client.backoff(1) <= Duration::from_millis(100));
            assert!(client.backoff(2) <= Duration::from_millis(200));
            assert!(client.backoff(3) <= Duration::from_millis(350));
            assert!(client.backoff(40) <= Duration::from_millis(350));
        }
        // Full jitter actually spreads: 200 draws are not all equal.
        let draws: Vec<_> = (0..200).map(|_| client.backoff(3)).collect();
        assert!(draws.iter().any(|d| *d != draws[0]));
    }

    #[test]
    fn config_validation_names_the_problem() {
        let bad_url = CertSpotterClient::new(ClientConfig {
            base_url: "not a url".into(),
            ..ClientConfig::default()
        });
        assert!(matches!(bad_url, Err(FetchError::InvalidConfig(m)) if m.contains("base URL")));
        let bad_token = CertSpotterClient::new(ClientConfig {
            token: Some("line\nbreak".into()),
            ..ClientConfig::default()
        });
        assert!(matches!(bad_token, Err(FetchError::InvalidConfig(m)) if m.contains("token")));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let config = ClientConfig {
            token: Some("s3cr3t-token".into()),
            ..ClientConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cr3t"));
        let client = CertSpotterClient::new(config).expect("client");
        assert!(!format!("{client:?}").contains("s3cr3t"));
    }

    #[test]
    fn api_error_uses_the_json_object_or_the_text() {
        let e = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":"bad_domain","message":"nope"}"#,
        );
        assert!(
            matches!(e, FetchError::Api { status: 400, code: Some(ref c), ref message } if c == "bad_domain" && message == "nope")
        );
        let e = api_error(StatusCode::FORBIDDEN, b"<html>denied</html>");
        assert!(
            matches!(e, FetchError::Api { status: 403, code: None, ref message } if message.contains("denied"))
        );
    }
}
