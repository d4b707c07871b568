//! CAA lookups at detection time (issue 10 §2): the I/O around the pure RFC 8659 evaluation in
//! [`ctguard::caa`]. One [`CaaResolver`] per Lambda instance (hickory-resolver, the system's
//! configuration or `CAA_RESOLVER`); one [`CaaRun`] per poll run, which bounds and caches:
//! - every lookup is bounded by `CAA_TIMEOUT` (the resolver's own timeout, and a hard outer
//!   one), at most `CAA_MAX_LOOKUPS` lookups per run, none after the poll deadline;
//! - after [`FAILURES_IN_A_ROW_MAX`] failed lookups in a row the resolver is taken as down for
//!   the rest of the run (a dead resolver costs at most that many timeouts per run);
//! - answers are cached per run by name (a page of certificates under one domain climbs the
//!   same ancestors);
//! - whatever stops a lookup becomes `lookup_failed` in the evidence: never a pass.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctguard::caa::{
    CAA_NAMES_MAX, CaaEvidence, CaaRecord, RrsetAnswer, climb, evaluate, normalise,
};
use ctguard::matcher::EntryMatch;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::time::Instant;

/// Failed lookups in a row after which a run stops asking (the resolver is down or blocked).
pub const FAILURES_IN_A_ROW_MAX: u32 = 3;

/// Which resolver CAA lookups go to (`CAA_RESOLVER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolverChoice {
    /// No CAA checks (`off`).
    Off,
    /// The system's resolver configuration (`/etc/resolv.conf`; the Lambda's VPC resolver).
    System,
    /// A recursive resolver at this address (`ip:port`, UDP then TCP).
    Address(SocketAddr),
}

/// The CAA settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaSettings {
    pub resolver: ResolverChoice,
    /// One lookup at most (`CAA_TIMEOUT`).
    pub timeout: Duration,
    /// Lookups per run at most (`CAA_MAX_LOOKUPS`).
    pub max_lookups: u32,
}

impl Default for CaaSettings {
    /// Off: what tests and benches get unless they ask (the deployed default, read by
    /// [`crate::config`], is the system resolver).
    fn default() -> Self {
        Self {
            resolver: ResolverChoice::Off,
            timeout: Duration::from_secs(2),
            max_lookups: 200,
        }
    }
}

/// Parses `CAA_RESOLVER`: `off`, `system`, or `ip:port` (`[v6]:port`).
pub fn parse_resolver(raw: &str) -> Result<ResolverChoice, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(ResolverChoice::Off),
        "system" => Ok(ResolverChoice::System),
        other => other
            .parse::<SocketAddr>()
            .map(ResolverChoice::Address)
            .map_err(|_| format!("must be off, system or ip:port (e.g. 10.0.0.2:53), got {raw:?}")),
    }
}

/// The resolver could not be set up (no usable system configuration).
#[derive(Debug, thiserror::Error)]
#[error("CAA_RESOLVER: cannot set up the resolver: {0}")]
pub struct ResolverSetupError(String);

/// A resolver for CAA queries, built once per Lambda instance.
pub struct CaaResolver {
    /// `Err`: the resolver could not be set up; every lookup fails with this (never a pass).
    inner: Result<TokioResolver, String>,
    /// How the evidence names it.
    label: String,
    timeout: Duration,
}

impl CaaResolver {
    /// `None` when CAA checks are off. A resolver that cannot be set up (no usable system
    /// configuration) is kept as one whose every lookup fails, so alerts say CAA was not
    /// checked instead of the run failing or passing silently.
    pub fn from_settings(settings: &CaaSettings) -> Option<Self> {
        match Self::new(settings) {
            Ok(resolver) => resolver,
            Err(e) => {
                tracing::error!(error = %e, "CAA lookups will fail this instance");
                Some(Self {
                    inner: Err(e.to_string()),
                    label: label(settings.resolver),
                    timeout: settings.timeout,
                })
            }
        }
    }

    /// `None` when CAA checks are off.
    pub fn new(settings: &CaaSettings) -> Result<Option<Self>, ResolverSetupError> {
        let provider = TokioRuntimeProvider::default();
        let (mut builder, label) = match settings.resolver {
            ResolverChoice::Off => return Ok(None),
            ResolverChoice::System => (
                TokioResolver::builder(provider).map_err(|e| ResolverSetupError(e.to_string()))?,
                label(settings.resolver),
            ),
            ResolverChoice::Address(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                (
                    TokioResolver::builder_with_config(
                        ResolverConfig::from_name_servers(vec![server]),
                        provider,
                    ),
                    label(settings.resolver),
                )
            }
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = settings.timeout;
        options.attempts = 1;
        // Detection time means now: no answers kept from earlier runs (the run caches).
        options.cache_size = 0;
        options.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| ResolverSetupError(e.to_string()))?;
        Ok(Some(Self {
            inner: Ok(inner),
            label,
            timeout: settings.timeout,
        }))
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// One CAA query, CNAMEs followed by the resolver, bounded in time.
    async fn query(&self, name: &str) -> RrsetAnswer {
        let Ok(fqdn) = Name::from_ascii(format!("{name}.")) else {
            return RrsetAnswer::Failed(format!("{name:?} is not a DNS name"));
        };
        // The resolver's own timeout covers one exchange; this bounds the whole lookup
        // (UDP, then TCP on truncation, CNAME hops).
        let outer = self.timeout.saturating_mul(2);
        let resolver = match &self.inner {
            Ok(resolver) => resolver,
            Err(e) => return RrsetAnswer::Failed(format!("no resolver: {e}")),
        };
        match tokio::time::timeout(outer, resolver.lookup(fqdn, RecordType::CAA)).await {
            Err(_) => RrsetAnswer::Failed(format!("timed out after {} ms", outer.as_millis())),
            Ok(Ok(lookup)) => {
                let records: Vec<CaaRecord> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::CAA(caa) => Some(CaaRecord::new(caa.flags(), &caa.tag, &caa.value)),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    RrsetAnswer::Empty
                } else {
                    RrsetAnswer::Records(records)
                }
            }
            Ok(Err(e)) => answer_of_error(&e),
        }
    }
}

/// How the evidence names a resolver.
fn label(choice: ResolverChoice) -> String {
    match choice {
        ResolverChoice::Off => "off".to_owned(),
        ResolverChoice::System => "system".to_owned(),
        ResolverChoice::Address(addr) => addr.to_string(),
    }
}

/// NXDOMAIN and NOERROR without records are empty (climb on); anything else failed.
fn answer_of_error(e: &NetError) -> RrsetAnswer {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no))
            if matches!(
                no.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ) =>
        {
            RrsetAnswer::Empty
        }
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            RrsetAnswer::Failed(format!("{}", no.response_code))
        }
        other => RrsetAnswer::Failed(other.to_string()),
    }
}

/// Counters of one run's CAA work (the run report and the benchmark show them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaaCounts {
    /// Issuances checked.
    pub issuances: u32,
    /// DNS queries sent.
    pub lookups: u32,
    /// Queries answered from the run's cache.
    pub cache_hits: u32,
    /// Names whose outcome was `lookup_failed`.
    pub failed_names: u32,
}

/// One run's CAA checker: the resolver, the run's cache and bounds.
pub struct CaaRun<'a> {
    resolver: &'a CaaResolver,
    max_lookups: u32,
    deadline: Instant,
    cache: Mutex<HashMap<String, RrsetAnswer>>,
    lookups: AtomicU32,
    cache_hits: AtomicU32,
    issuances: AtomicU32,
    failed_names: AtomicU32,
    failures_in_a_row: AtomicU32,
}

impl<'a> CaaRun<'a> {
    pub fn new(resolver: &'a CaaResolver, max_lookups: u32, deadline: Instant) -> Self {
        Self {
            resolver,
            max_lookups,
            deadline,
            cache: Mutex::new(HashMap::new()),
            lookups: AtomicU32::new(0),
            cache_hits: AtomicU32::new(0),
            issuances: AtomicU32::new(0),
            failed_names: AtomicU32::new(0),
            failures_in_a_row: AtomicU32::new(0),
        }
    }

    pub fn counts(&self) -> CaaCounts {
        CaaCounts {
            issuances: self.issuances.load(Ordering::Relaxed),
            lookups: self.lookups.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            failed_names: self.failed_names.load(Ordering::Relaxed),
        }
    }

    /// The evidence for one issuance: each distinct matched name (at most
    /// [`CAA_NAMES_MAX`]) checked against the issuer's CAA identifiers.
    pub async fn check(
        &self,
        matched: &[EntryMatch],
        issuer_ids: &[String],
        now: DateTime<Utc>,
    ) -> CaaEvidence {
        self.issuances.fetch_add(1, Ordering::Relaxed);
        let names = matched_names(matched);
        let mut checks = Vec::with_capacity(names.len().min(CAA_NAMES_MAX));
        for raw in names.iter().take(CAA_NAMES_MAX) {
            let check = match normalise(raw) {
                None => ctguard::caa::evaluate(
                    raw,
                    false,
                    &[(
                        raw.clone(),
                        RrsetAnswer::Failed("not a domain name".to_owned()),
                    )],
                    issuer_ids,
                ),
                Some((name, wildcard, base)) => {
                    let mut answers = Vec::new();
                    for step in climb(&base) {
                        let answer = self.answer(&step).await;
                        let stop = !matches!(answer, RrsetAnswer::Empty);
                        answers.push((step, answer));
                        if stop {
                            break;
                        }
                    }
                    evaluate(&name, wildcard, &answers, issuer_ids)
                }
            };
            if check.outcome == ctguard::caa::CaaOutcome::LookupFailed {
                self.failed_names.fetch_add(1, Ordering::Relaxed);
            }
            checks.push(check);
        }
        CaaEvidence {
            checked_at: now,
            resolver: self.resolver.label().to_owned(),
            issuer_caa_domains: issuer_ids.to_vec(),
            names: checks,
            names_total: u32::try_from(names.len()).unwrap_or(u32::MAX),
        }
    }

    /// One name's CAA RRset: from the run's cache, or one bounded lookup.
    async fn answer(&self, name: &str) -> RrsetAnswer {
        if let Some(hit) = crate::run::lock(&self.cache).get(name) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return hit.clone();
        }
        if self.failures_in_a_row.load(Ordering::Relaxed) >= FAILURES_IN_A_ROW_MAX {
            return RrsetAnswer::Failed(format!(
                "resolver {} skipped for the rest of this run after {FAILURES_IN_A_ROW_MAX} \
                 failed lookups in a row",
                self.resolver.label()
            ));
        }
        if Instant::now() + self.resolver.timeout >= self.deadline {
            return RrsetAnswer::Failed("the run's deadline is too close for a lookup".to_owned());
        }
        // Counted before the query: concurrent workers cannot overshoot the cap.
        if self.lookups.fetch_add(1, Ordering::Relaxed) >= self.max_lookups {
            self.lookups.fetch_sub(1, Ordering::Relaxed);
            return RrsetAnswer::Failed(format!(
                "the run's limit of {} CAA lookups (CAA_MAX_LOOKUPS) was reached",
                self.max_lookups
            ));
        }
        let answer = self.resolver.query(name).await;
        if matches!(answer, RrsetAnswer::Failed(_)) {
            self.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
            // Failures are not cached: a later issuance in the run may get through.
        } else {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
            crate::run::lock(&self.cache).insert(name.to_owned(), answer.clone());
        }
        answer
    }
}

/// The distinct matched names, lower-case, in the order the alert lists them.
fn matched_names(matched: &[EntryMatch]) -> Vec<String> {
    let mut seen = HashSet::new();
    matched
        .iter()
        .flat_map(|m| m.names.iter())
        .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|n| seen.insert(n.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_setting_parses_or_says_what_it_wants() {
        assert_eq!(parse_resolver("off"), Ok(ResolverChoice::Off));
        assert_eq!(parse_resolver(" System "), Ok(ResolverChoice::System));
        assert_eq!(
            parse_resolver("127.0.0.1:5353"),
            Ok(ResolverChoice::Address("127.0.0.1:5353".parse().unwrap()))
        );
        assert_eq!(
            parse_resolver("[::1]:53"),
            Ok(ResolverChoice::Address("[::1]:53".parse().unwrap()))
        );
        for bad in ["127.0.0.1", "dns.google:53", "yes"] {
            let e = parse_resolver(bad).unwrap_err();
            assert!(e.contains("off, system or ip:port"), "{e}");
        }
    }

    #[test]
    fn matched_names_are_distinct_and_lower_case() {
        let d = |s: &str| ctguard::domain::WatchDomain::parse(s).unwrap();
        let matched = vec![
            EntryMatch {
                entry: d("example.com"),
                names: vec!["A.example.com".into(), "b.example.com".into()],
            },
            EntryMatch {
                entry: d("a.example.com"),
                names: vec!["a.example.com.".into()],
            },
        ];
        assert_eq!(matched_names(&matched), ["a.example.com", "b.example.com"]);
    }
}
