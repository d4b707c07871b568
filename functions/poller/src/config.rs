//! The poller's configuration, read once from the environment at cold start.
//!
//! Every variable, its default and its meaning (the README repeats this table):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `WATCHES_TABLE` | required | DynamoDB table of watch entries |
//! | `INVENTORY_TABLE` | required | DynamoDB table of authorized certificates and keys |
//! | `ALERTS_TABLE` | required | DynamoDB table of alerts |
//! | `CERTSPOTTER_API_URL` | `https://api.certspotter.com` | Cert Spotter API base URL |
//! | `CERTSPOTTER_API_TOKEN_PARAM` | unset | deployed: name of the SSM SecureString holding the Cert Spotter API key, read at cold start (wins over `CERTSPOTTER_API_TOKEN`) |
//! | `CERTSPOTTER_API_TOKEN` | unset (anonymous) | Cert Spotter API key (local runs) |
//! | `CERTSPOTTER_TIMEOUT` | `20s` | timeout of one API request |
//! | `CERTSPOTTER_MAX_RETRIES` | `2` | retries of a 5xx / timed-out API request |
//! | `CERTSPOTTER_RATE_PER_SEC` | `1` | the plan's request rate: every request (retries included, all entries together) is paced to it; a decimal (`0.5`, `5`), at most 1000 |
//! | `CERTSPOTTER_BURST` | `10` | requests that may start at once before the pacing applies (at least 1) |
//! | `POLL_CONCURRENCY` | `1` | watch entries polled at once (pages of one entry stay sequential; 1-64); raise it with a paid plan (the rate limiter, not this, bounds the request rate) |
//! | `ALERT_TOPIC_ARN` | unset (SNS off) | SNS topic receiving one JSON message per alert |
//! | `EMAIL_FROM` / `EMAIL_TO` | unset (email off) | SES v2 sender and comma-separated recipients; both or neither |
//! | `EMAIL_INCLUDE_INFO` | `false` | also list authorized (info) certificates in the run email |
//! | `GRACE_PERIOD` | `30m` | how long an unauthorized new issuance stays `pending` (`0` = off) |
//! | `QUERY_BUDGET` | `50` | Cert Spotter queries (pages) one run may spend |
//! | `DEADLINE_MARGIN` | `20s` | stop polling this long before the Lambda deadline, to deliver and record |
//! | `RUN_TIMEOUT` | `5m` | the deadline of `poller --once` (no Lambda deadline there) |
//! | `MAX_DELIVERY_ATTEMPTS` | `5` | attempts per alert and channel before it is marked failed |
//! | `DELIVERY_LEASE` | `5m` | how long a run holds a claimed delivery before another may retry it |
//! | `ALERT_RETENTION_DAYS` | `395` | alerts expire (DynamoDB TTL) this long after first seen (`0` = keep) |
//! | `RATE_LIMIT_BACKOFF` | `15m` | pause after a 429 without `Retry-After` |
//! | `OUTBOX_BATCH` | `500` | undelivered / pending alerts handled per run |
//! | `DELIVERY_BATCH` | `100` | alert+channel claims and records per DynamoDB transaction (1–100); SNS messages per PublishBatch are at most 10 of them (`1` = one Publish and one UpdateItem each, the unbatched path) |
//! | `STUCK_AFTER_RUNS` | `3` | an entry polled this many runs in a row without progress (an error, or a cursor that does not move) is *stuck* |
//! | `CANARY_DOMAIN` | unset (no canary) | a domain whose issuances are expected (deployed: `test.certspotter.org`); the poller creates its watch entry, marked `canary`, when missing |
//! | `CANARY_WINDOW` | `36h` | a canary with no new issuance for this long raises a `health` alert ("monitor blind") |
//! | `CANARY_POLL_INTERVAL` | `6h` | a canary entry is polled at most this often (it costs Cert Spotter quota) |
//! | `NOT_LOGGED_WINDOW` | `24h` | a pushed certificate with embedded SCTs not seen in CT this long after its push raises a `health` alert |
//! | `CAA_RESOLVER` | `system` | where CAA lookups of unauthorized issuances go: `system` (the system's resolver configuration), `ip:port` of a recursive resolver, or `off` |
//! | `CAA_TIMEOUT` | `2s` | one CAA lookup at most (a whole lookup, CNAMEs and TCP fallback included, at most twice this); 1 ms to 10 s |
//! | `CAA_MAX_LOOKUPS` | `200` | CAA queries one run may send (the rest of the run's checks are `lookup_failed`) |
//!
//! Durations are a whole number with an optional unit: `ms`, `s` (default), `m`, `h`, `d`.

use std::time::Duration;

use ctguard::domain::WatchDomain;
use ctguard::secrets::{self, Secret};

/// The variable naming the SSM parameter that holds the Cert Spotter API key (deployed).
pub const CERTSPOTTER_API_TOKEN_PARAM: &str = "CERTSPOTTER_API_TOKEN_PARAM";
/// The variable holding the key itself (local runs).
pub const CERTSPOTTER_API_TOKEN: &str = "CERTSPOTTER_API_TOKEN";

/// Everything the poller reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    pub certspotter: CertSpotterSettings,
    /// `None`: SNS delivery is off.
    pub alert_topic_arn: Option<String>,
    /// `None`: email delivery is off.
    pub email: Option<EmailSettings>,
    pub run: RunSettings,
    /// For `poller --once`: how long the single run may take.
    pub run_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub watches: String,
    pub inventory: String,
    pub alerts: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct CertSpotterSettings {
    pub base_url: String,
    pub token: Option<String>,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// Time between two requests at the plan's rate (`CERTSPOTTER_RATE_PER_SEC`).
    pub request_interval: Duration,
    /// Requests that may start at once (`CERTSPOTTER_BURST`).
    pub burst: u32,
}

/// Never prints the token.
impl std::fmt::Debug for CertSpotterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSpotterSettings")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("request_interval", &self.request_interval)
            .field("burst", &self.burst)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub from: String,
    pub to: Vec<String>,
}

/// The knobs of one poll run (the part of the configuration the run logic sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    pub grace_period: Duration,
    pub query_budget: u32,
    /// Watch entries polled at once (`POLL_CONCURRENCY`).
    pub poll_concurrency: u32,
    /// Requests one page may cost at most (1 + `CERTSPOTTER_MAX_RETRIES`): what a worker sets
    /// aside from the shared query budget before fetching a page.
    pub page_attempts: u32,
    pub deadline_margin: Duration,
    pub max_delivery_attempts: u32,
    pub delivery_lease: Duration,
    /// `None`: alerts are kept forever.
    pub alert_retention: Option<Duration>,
    pub rate_limit_backoff: Duration,
    pub outbox_batch: u32,
    /// Alert+channel claims/records per store batch (1..=100); SNS batches are at most 10.
    pub delivery_batch: u32,
    pub email_include_info: bool,
    /// Polls in a row without progress after which an entry is stuck.
    pub stuck_after_runs: u32,
    /// The canary entry the poller keeps on the watch list (`None`: no canary is seeded).
    pub canary_domain: Option<WatchDomain>,
    pub canary_window: Duration,
    pub canary_poll_interval: Duration,
    pub not_logged_window: Duration,
    /// Expiry: the first `expiring` warning this long before a deployed certificate's
    /// `not_after` with no renewal pushed (`EXPIRY_WARNING`; zero: expiry is not checked).
    pub expiry_warning: Duration,
    /// Expiry: the second warning (`EXPIRY_FINAL_WARNING`, shorter than the first).
    pub expiry_final_warning: Duration,
    /// CAA at detection time (`CAA_RESOLVER`, `CAA_TIMEOUT`, `CAA_MAX_LOOKUPS`).
    pub caa: crate::caa::CaaSettings,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(30 * 60),
            query_budget: 50,
            poll_concurrency: DEFAULT_POLL_CONCURRENCY,
            page_attempts: 1 + DEFAULT_MAX_RETRIES,
            deadline_margin: Duration::from_secs(20),
            max_delivery_attempts: 5,
            delivery_lease: Duration::from_secs(5 * 60),
            alert_retention: Some(Duration::from_secs(395 * 86_400)),
            rate_limit_backoff: Duration::from_secs(15 * 60),
            outbox_batch: 500,
            delivery_batch: DELIVERY_BATCH_MAX,
            email_include_info: false,
            stuck_after_runs: 3,
            canary_domain: None,
            canary_window: Duration::from_secs(36 * 3600),
            canary_poll_interval: Duration::from_secs(6 * 3600),
            not_logged_window: Duration::from_secs(24 * 3600),
            expiry_warning: Duration::from_secs(14 * 86_400),
            expiry_final_warning: Duration::from_secs(3 * 86_400),
            caa: crate::caa::CaaSettings::default(),
        }
    }
}

pub const DEFAULT_CERTSPOTTER_URL: &str = "https://api.certspotter.com";
/// Retries of a failed Cert Spotter request.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Watch entries polled at once: one, as before this setting existed (a free-tier account
/// is limited by its hourly quota, not by latency). The rate limiter bounds the request rate.
pub const DEFAULT_POLL_CONCURRENCY: u32 = 1;
/// Requests per second. Cert Spotter's free tier is an hourly quota (about 10 full-domain
/// queries an hour, kept by `QUERY_BUDGET` and the schedule); it publishes no per-second
/// figure, so the default paces like one careful client: one request a second.
pub const DEFAULT_RATE_PER_SEC: f64 = 1.0;
/// Requests that may start at once (a free-tier hour's worth).
pub const DEFAULT_BURST: u32 = 10;
/// Highest accepted `CERTSPOTTER_RATE_PER_SEC`.
const MAX_RATE_PER_SEC: f64 = 1000.0;
/// Highest accepted `POLL_CONCURRENCY`.
const MAX_POLL_CONCURRENCY: u32 = 64;
/// Longest `EXPIRY_WARNING`: certificates live at most 398 days; the window stays a window.
const EXPIRY_WARNING_MAX: Duration = Duration::from_secs(366 * 86_400);
/// DynamoDB's TransactWriteItems limit: the largest useful `DELIVERY_BATCH`.
pub const DELIVERY_BATCH_MAX: u32 = 100;

/// The configuration is unusable; lists every offending variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

/// One variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct Problem {
    pub variable: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the process environment, and the Cert Spotter key from SSM when
    /// `CERTSPOTTER_API_TOKEN_PARAM` names a parameter.
    pub async fn from_env(ssm: &aws_sdk_ssm::Client) -> Result<Self, ConfigError> {
        Self::load(|name| std::env::var(name).ok(), ssm).await
    }

    /// Like [`Config::from_env`] over any variable source. The other variables are checked
    /// first, so a broken configuration is reported without calling SSM.
    pub async fn load(
        lookup: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(&lookup)?;
        match secrets::resolve(
            &lookup,
            CERTSPOTTER_API_TOKEN_PARAM,
            CERTSPOTTER_API_TOKEN,
            ssm,
        )
        .await
        {
            Ok(Secret::Ssm { value, .. }) => config.certspotter.token = Some(value),
            Ok(Secret::Plain(_) | Secret::Unset) => {} // read by from_lookup
            Err(e) => {
                return Err(ConfigError {
                    problems: vec![Problem {
                        variable: e.variable(),
                        message: e.to_string(),
                    }],
                });
            }
        }
        Ok(config)
    }

    /// Reads variables through `lookup` (the environment in production, a map in tests), the
    /// Cert Spotter key from the plain `CERTSPOTTER_API_TOKEN` (no SSM). Empty values count as
    /// unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader {
            lookup: &|name| lookup(name).filter(|v| !v.trim().is_empty()),
            problems: Vec::new(),
        };
        let defaults = RunSettings::default();

        let tables = Tables {
            watches: env.required("WATCHES_TABLE"),
            inventory: env.required("INVENTORY_TABLE"),
            alerts: env.required("ALERTS_TABLE"),
        };
        let base_url = env
            .optional("CERTSPOTTER_API_URL")
            .unwrap_or_else(|| DEFAULT_CERTSPOTTER_URL.to_owned());
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            env.problem("CERTSPOTTER_API_URL", "must be an http(s) URL");
        }
        let certspotter = CertSpotterSettings {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: env.optional(CERTSPOTTER_API_TOKEN),
            request_timeout: env.duration("CERTSPOTTER_TIMEOUT", Duration::from_secs(20)),
            max_retries: env.number("CERTSPOTTER_MAX_RETRIES", DEFAULT_MAX_RETRIES, 0),
            request_interval: env.rate_interval("CERTSPOTTER_RATE_PER_SEC", DEFAULT_RATE_PER_SEC),
            burst: env.number("CERTSPOTTER_BURST", DEFAULT_BURST, 1),
        };
        let poll_concurrency = env.number("POLL_CONCURRENCY", DEFAULT_POLL_CONCURRENCY, 1);
        if poll_concurrency > MAX_POLL_CONCURRENCY {
            env.problem(
                "POLL_CONCURRENCY",
                format!("must be at most {MAX_POLL_CONCURRENCY}, got {poll_concurrency}"),
            );
        }
        let alert_topic_arn = env.optional("ALERT_TOPIC_ARN");
        if alert_topic_arn
            .as_deref()
            .is_some_and(|arn| !arn.starts_with("arn:"))
        {
            env.problem("ALERT_TOPIC_ARN", "must be an SNS topic ARN (arn:...)");
        }
        let email = env.email();

        let retention_days: u32 = env.number("ALERT_RETENTION_DAYS", 395, 0);
        let run = RunSettings {
            grace_period: env.duration("GRACE_PERIOD", defaults.grace_period),
            query_budget: env.number("QUERY_BUDGET", defaults.query_budget, 1),
            poll_concurrency: poll_concurrency.min(MAX_POLL_CONCURRENCY),
            page_attempts: certspotter.max_retries.saturating_add(1),
            deadline_margin: env.duration("DEADLINE_MARGIN", defaults.deadline_margin),
            max_delivery_attempts: env.number(
                "MAX_DELIVERY_ATTEMPTS",
                defaults.max_delivery_attempts,
                1,
            ),
            delivery_lease: env.duration("DELIVERY_LEASE", defaults.delivery_lease),
            alert_retention: (retention_days > 0)
                .then(|| Duration::from_secs(u64::from(retention_days) * 86_400)),
            rate_limit_backoff: env.duration("RATE_LIMIT_BACKOFF", defaults.rate_limit_backoff),
            outbox_batch: env.number("OUTBOX_BATCH", defaults.outbox_batch, 1),
            delivery_batch: env.number("DELIVERY_BATCH", defaults.delivery_batch, 1),
            email_include_info: env.boolean("EMAIL_INCLUDE_INFO", false),
            stuck_after_runs: env.number("STUCK_AFTER_RUNS", defaults.stuck_after_runs, 1),
            canary_domain: env.optional("CANARY_DOMAIN").and_then(|raw| {
                WatchDomain::parse(&raw)
                    .map_err(|e| env.problem("CANARY_DOMAIN", format!("{raw:?}: {e}")))
                    .ok()
            }),
            canary_window: env.duration("CANARY_WINDOW", defaults.canary_window),
            canary_poll_interval: env
                .duration("CANARY_POLL_INTERVAL", defaults.canary_poll_interval),
            not_logged_window: env.duration("NOT_LOGGED_WINDOW", defaults.not_logged_window),
            expiry_warning: env.duration("EXPIRY_WARNING", defaults.expiry_warning),
            expiry_final_warning: env
                .duration("EXPIRY_FINAL_WARNING", defaults.expiry_final_warning),
            caa: env.caa(&defaults.caa),
        };
        if run.expiry_warning > EXPIRY_WARNING_MAX {
            env.problem("EXPIRY_WARNING", "must be at most 366d");
        }
        if !run.expiry_warning.is_zero() && run.expiry_final_warning >= run.expiry_warning {
            env.problem(
                "EXPIRY_FINAL_WARNING",
                format!(
                    "must be shorter than EXPIRY_WARNING ({}s), got {}s",
                    run.expiry_warning.as_secs(),
                    run.expiry_final_warning.as_secs()
                ),
            );
        }
        if run.delivery_lease.is_zero() {
            env.problem("DELIVERY_LEASE", "must be more than zero");
        }
        if run.delivery_batch > DELIVERY_BATCH_MAX {
            env.problem(
                "DELIVERY_BATCH",
                format!("must be at most {DELIVERY_BATCH_MAX} (a DynamoDB transaction)"),
            );
        }
        let run_timeout = env.duration("RUN_TIMEOUT", Duration::from_secs(5 * 60));

        if env.problems.is_empty() {
            Ok(Self {
                tables,
                certspotter,
                alert_topic_arn,
                email,
                run,
                run_timeout,
            })
        } else {
            Err(ConfigError {
                problems: env.problems,
            })
        }
    }
}

/// Collects problems instead of stopping at the first, so one deploy fixes them all.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            message: message.into(),
        });
    }

    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned())
    }

    fn required(&mut self, name: &'static str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problem(name, "is required but not set");
            String::new()
        })
    }

    fn duration(&mut self, name: &'static str, default: Duration) -> Duration {
        match self.optional(name) {
            None => default,
            Some(raw) => parse_duration(&raw).unwrap_or_else(|message| {
                self.problem(name, message);
                default
            }),
        }
    }

    fn number(&mut self, name: &'static str, default: u32, min: u32) -> u32 {
        match self.optional(name) {
            None => default,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n >= min => n,
                Ok(_) => {
                    self.problem(name, format!("must be at least {min}, got {raw:?}"));
                    default
                }
                Err(_) => {
                    self.problem(name, format!("must be a whole number, got {raw:?}"));
                    default
                }
            },
        }
    }

    /// The CAA settings: the resolver defaults to the system's (unlike
    /// [`crate::caa::CaaSettings::default`], which is off for tests).
    fn caa(&mut self, defaults: &crate::caa::CaaSettings) -> crate::caa::CaaSettings {
        let resolver = match self.optional("CAA_RESOLVER") {
            None => crate::caa::ResolverChoice::System,
            Some(raw) => crate::caa::parse_resolver(&raw).unwrap_or_else(|message| {
                self.problem("CAA_RESOLVER", message);
                crate::caa::ResolverChoice::Off
            }),
        };
        let timeout = self.duration("CAA_TIMEOUT", defaults.timeout);
        if timeout.is_zero() || timeout > Duration::from_secs(10) {
            self.problem("CAA_TIMEOUT", "must be between 1ms and 10s");
        }
        crate::caa::CaaSettings {
            resolver,
            timeout,
            max_lookups: self.number("CAA_MAX_LOOKUPS", defaults.max_lookups, 1),
        }
    }

    /// A request rate (requests per second, a decimal) as the time between two requests.
    fn rate_interval(&mut self, name: &'static str, default: f64) -> Duration {
        let interval = |rate: f64| Duration::from_secs_f64(1.0 / rate);
        match self.optional(name) {
            None => interval(default),
            Some(raw) => match raw.parse::<f64>() {
                Ok(rate) if (0.001..=MAX_RATE_PER_SEC).contains(&rate) => interval(rate),
                _ => {
                    self.problem(
                        name,
                        format!(
                            "must be a number of requests per second from 0.001 to {MAX_RATE_PER_SEC}, got {raw:?}"
                        ),
                    );
                    interval(default)
                }
            },
        }
    }

    fn boolean(&mut self, name: &'static str, default: bool) -> bool {
        match self.optional(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some(v) => {
                self.problem(name, format!("must be true or false, got {v:?}"));
                default
            }
        }
    }

    fn email(&mut self) -> Option<EmailSettings> {
        let from = self.optional("EMAIL_FROM");
        let to = self.optional("EMAIL_TO");
        match (from, to) {
            (None, None) => None,
            (Some(_), None) => {
                self.problem("EMAIL_TO", "must be set when EMAIL_FROM is");
                None
            }
            (None, Some(_)) => {
                self.problem("EMAIL_FROM", "must be set when EMAIL_TO is");
                None
            }
            (Some(from), Some(to)) => {
                if !looks_like_address(&from) {
                    self.problem("EMAIL_FROM", format!("{from:?} is not an email address"));
                }
                let to: Vec<String> = to
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                if to.is_empty() {
                    self.problem("EMAIL_TO", "lists no address");
                }
                for bad in to.iter().filter(|a| !looks_like_address(a)) {
                    self.problem("EMAIL_TO", format!("{bad:?} is not an email address"));
                }
                Some(EmailSettings { from, to })
            }
        }
    }
}

/// A sanity check, not RFC 5322: catches a swapped variable or a missing comma.
fn looks_like_address(address: &str) -> bool {
    let address = address
        .rsplit_once('<')
        .map_or(address, |(_, a)| a.trim_end_matches('>'));
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !address.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `90`, `90s`, `30m`, `2h`, `1d`, `500ms`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (e.g. 90s, 30m, 2h)"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(value)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {raw:?} (use ms, s, m, h or d)"
            ));
        }
    };
    value
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw:?} is too large"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const TABLES: [(&str, &str); 3] = [
        ("WATCHES_TABLE", "w"),
        ("INVENTORY_TABLE", "i"),
        ("ALERTS_TABLE", "a"),
    ];

    #[test]
    fn minimal_configuration_uses_defaults() {
        let config = read(&TABLES).expect("valid");
        assert_eq!(config.tables.watches, "w");
        assert_eq!(config.certspotter.base_url, DEFAULT_CERTSPOTTER_URL);
        assert_eq!(config.certspotter.token, None);
        assert_eq!(config.alert_topic_arn, None);
        assert_eq!(config.email, None);
        // The deployed default asks the system's resolver; RunSettings::default() (tests)
        // leaves CAA off.
        assert_eq!(config.run.caa.resolver, crate::caa::ResolverChoice::System);
        let mut run = config.run.clone();
        run.caa.resolver = crate::caa::ResolverChoice::Off;
        assert_eq!(run, RunSettings::default());
    }

    #[test]
    fn every_missing_table_is_named() {
        let err = read(&[("WATCHES_TABLE", "w")]).unwrap_err();
        let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(names, ["INVENTORY_TABLE", "ALERTS_TABLE"]);
        assert!(err.to_string().contains("INVENTORY_TABLE: is required"));
    }

    #[test]
    fn expiry_warnings_are_read_and_checked() {
        let mut vars = TABLES.to_vec();
        vars.extend([("EXPIRY_WARNING", "21d"), ("EXPIRY_FINAL_WARNING", "2d")]);
        let run = read(&vars).expect("valid").run;
        assert_eq!(run.expiry_warning, Duration::from_secs(21 * 86_400));
        assert_eq!(run.expiry_final_warning, Duration::from_secs(2 * 86_400));
        // Off: the second warning does not matter.
        let mut vars = TABLES.to_vec();
        vars.push(("EXPIRY_WARNING", "0"));
        assert!(read(&vars).expect("valid").run.expiry_warning.is_zero());
        for (first, second, variable) in [
            ("3d", "3d", "EXPIRY_FINAL_WARNING"),
            ("1d", "2d", "EXPIRY_FINAL_WARNING"),
            ("400d", "3d", "EXPIRY_WARNING"),
            ("soon", "3d", "EXPIRY_WARNING"),
        ] {
            let mut vars = TABLES.to_vec();
            vars.extend([("EXPIRY_WARNING", first), ("EXPIRY_FINAL_WARNING", second)]);
            let err = read(&vars).unwrap_err();
            assert!(
                err.problems.iter().any(|p| p.variable == variable),
                "{first} {second}: {err}"
            );
        }
    }

    #[test]
    fn malformed_values_are_each_named() {
        let mut vars = TABLES.to_vec();
        vars.extend([
            ("GRACE_PERIOD", "soon"),
            ("QUERY_BUDGET", "0"),
            ("MAX_DELIVERY_ATTEMPTS", "many"),
            ("EMAIL_INCLUDE_INFO", "maybe"),
            ("EMAIL_FROM", "ops@example.com"),
            ("ALERT_TOPIC_ARN", "my-topic"),
            ("CERTSPOTTER_API_URL", "ftp://x"),
            ("CANARY_DOMAIN", "com"),
            ("CANARY_WINDOW", "a day"),
            ("CERTSPOTTER_RATE_PER_SEC", "fast"),
            ("CERTSPOTTER_BURST", "0"),
            ("POLL_CONCURRENCY", "65"),
            ("CAA_RESOLVER", "dns.google"),
            ("CAA_TIMEOUT", "1m"),
            ("CAA_MAX_LOOKUPS", "0"),
        ]);
        let err = read(&vars).unwrap_err();
        let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
        for expected in [
            "GRACE_PERIOD",
            "QUERY_BUDGET",
            "MAX_DELIVERY_ATTEMPTS",
            "EMAIL_INCLUDE_INFO",
            "EMAIL_TO",
            "ALERT_TOPIC_ARN",
            "CERTSPOTTER_API_URL",
            "CANARY_DOMAIN",
            "CANARY_WINDOW",
            "CERTSPOTTER_RATE_PER_SEC",
            "CERTSPOTTER_BURST",
            "POLL_CONCURRENCY",
            "CAA_RESOLVER",
            "CAA_TIMEOUT",
            "CAA_MAX_LOOKUPS",
        ] {
            assert!(names.contains(&expected), "{expected} not in {names:?}");
        }
    }

    #[test]
    fn full_configuration_is_read() {
        let mut vars = TABLES.to_vec();
        vars.extend([
            ("CERTSPOTTER_API_URL", "http://127.0.0.1:9000/"),
            ("CERTSPOTTER_API_TOKEN", "k"),
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts",
            ),
            ("EMAIL_FROM", "ctguard <ct@example.com>"),
            ("EMAIL_TO", "a@example.com, b@example.org ,"),
            ("EMAIL_INCLUDE_INFO", "yes"),
            ("GRACE_PERIOD", "0"),
            ("QUERY_BUDGET", "7"),
            ("DEADLINE_MARGIN", "1500ms"),
            ("ALERT_RETENTION_DAYS", "0"),
            ("CANARY_DOMAIN", "Test.CertSpotter.org."),
            ("CANARY_POLL_INTERVAL", "3h"),
            ("CERTSPOTTER_RATE_PER_SEC", "2.5"),
            ("CERTSPOTTER_BURST", "3"),
            ("CERTSPOTTER_MAX_RETRIES", "4"),
            ("POLL_CONCURRENCY", "8"),
        ]);
        let config = read(&vars).expect("valid");
        assert_eq!(config.certspotter.base_url, "http://127.0.0.1:9000");
        assert_eq!(config.certspotter.token.as_deref(), Some("k"));
        let email = config.email.expect("email on");
        assert_eq!(email.to, ["a@example.com", "b@example.org"]);
        assert!(config.run.email_include_info);
        assert_eq!(config.run.grace_period, Duration::ZERO);
        assert_eq!(config.run.query_budget, 7);
        assert_eq!(config.run.deadline_margin, Duration::from_millis(1500));
        assert_eq!(config.run.alert_retention, None);
        assert_eq!(
            config.run.canary_domain.as_ref().map(|d| d.as_str()),
            Some("test.certspotter.org")
        );
        assert_eq!(
            config.run.canary_poll_interval,
            Duration::from_secs(3 * 3600)
        );
        assert_eq!(config.run.canary_window, Duration::from_secs(36 * 3600));
        assert_eq!(
            config.certspotter.request_interval,
            Duration::from_millis(400)
        );
        assert_eq!(config.certspotter.burst, 3);
        assert_eq!(config.run.poll_concurrency, 8);
        assert_eq!(config.run.page_attempts, 5);
    }

    #[test]
    fn pacing_defaults() {
        let config = read(&TABLES).expect("valid");
        assert_eq!(config.certspotter.request_interval, Duration::from_secs(1));
        assert_eq!(config.certspotter.burst, DEFAULT_BURST);
        assert_eq!(config.run.poll_concurrency, DEFAULT_POLL_CONCURRENCY);
        assert_eq!(config.run.page_attempts, 3);
        for bad in ["0", "-1", "NaN", "inf", "1001", "0.0001"] {
            let mut vars = TABLES.to_vec();
            vars.push(("CERTSPOTTER_RATE_PER_SEC", bad));
            let err = read(&vars).unwrap_err();
            assert_eq!(
                err.problems[0].variable, "CERTSPOTTER_RATE_PER_SEC",
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
