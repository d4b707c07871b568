//! `GET /v1/issuances` with retries, rate-limit handling, deadlines and query budgets.

use std::time::Duration;

use tokio::time::Instant;

use super::model::Issuance;

/// Client settings; read from configuration once.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Default `https://api.certspotter.com`.
    pub base_url: String,
    pub token: Option<String>,
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Retries for 5xx and timeouts (jittered exponential backoff).
    pub max_retries: u32,
}

/// What a caller allows a fetch to spend: every page is a query.
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
    #[error("deadline reached")]
    DeadlineReached,
}

#[derive(Clone)]
pub struct CertSpotterClient {
    _private: (),
}

impl CertSpotterClient {
    pub fn new(config: ClientConfig) -> Result<Self, FetchError> {
        let _ = config;
        todo!("issue 2 §4")
    }

    /// A pager over the issuances after `after` (exclusive; `None` = from the beginning).
    pub fn pages(&self, query: IssuanceQuery, after: Option<String>) -> Pager {
        let _ = (query, after);
        todo!("issue 2 §4")
    }
}

/// Pages through issuances. The caller processes each page, then calls `next_page` again;
/// `resume_cursor()` is the id of the last issuance of the last page returned (what to store).
pub struct Pager {
    _private: (),
}

impl Pager {
    /// `Ok(Some(page))` with a non-empty page, `Ok(None)` when caught up (empty page),
    /// `Err` when stopped (rate limited, budget, deadline, API or transport error).
    pub async fn next_page(
        &mut self,
        budget: &mut Budget,
    ) -> Result<Option<Vec<Issuance>>, FetchError> {
        let _ = budget;
        todo!("issue 2 §4")
    }

    pub fn resume_cursor(&self) -> Option<&str> {
        todo!("issue 2 §4")
    }
}
