//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Configuration (highest precedence first):
  URL:    --url, CTGUARD_URL, url in the config file
  Token:  --token-file, CTGUARD_TOKEN, CTGUARD_TOKEN_FILE, token_file or token in the config file
          (never a command-line value; token files must be chmod 600)
  Auth:   --sigv4 or auth = \"aws_iam\" in the config file: SigV4 (service lambda) with the AWS
          default credential chain, for a Function URL with AuthType AWS_IAM
  Config: --config FILE, CTGUARD_CONFIG, $XDG_CONFIG_HOME/ctguard/config.toml
          (default ~/.config/ctguard/config.toml)

Exit codes:
  0  success
  1  the API refused the request (HTTP 4xx other than 401/403/404)
  2  usage, configuration or local input error
  3  authentication: HTTP 401/403, or no AWS credentials for SigV4
  4  not found (HTTP 404)
  5  API unreachable or failing: network error, timeout, HTTP 5xx

With --json, stdout carries the API's JSON (errors as {\"error\": {\"code\", \"message\"}}).";

/// The ctguard operator CLI: manage the watch list, push certificates and keys, triage alerts.
#[derive(Debug, Parser)]
#[command(name = "ctguard", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The API's base URL (the Function URL); else CTGUARD_URL, else the config file.
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Read the bearer token from FILE (chmod 600). Tokens are never accepted as arguments.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The config file (TOML) instead of ~/.config/ctguard/config.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sign requests with SigV4 (AWS_IAM Function URL) using the AWS default credential chain.
    #[arg(long, global = true)]
    pub sigv4: bool,
    /// AWS region for --sigv4 (default: from the Function URL, else the AWS chain).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Accept an http:// URL that is not loopback (the token crosses the network in clear).
    #[arg(long, global = true)]
    pub allow_http: bool,
    /// Per-request timeout in seconds (default 30).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The watch list.
    #[command(subcommand)]
    Domains(DomainsCommand),
    /// The certificate inventory.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Authorized public keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Alerts, newest first; --follow polls for new ones.
    Alerts(AlertsArgs),
    /// Acknowledge an alert (records you as `by`).
    Ack(AckArgs),
    /// Is monitoring working? Freshness per entry, pending alerts, deliveries.
    Status,
    /// Send a clearly marked test message through SNS and email.
    TestAlert,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Watch a domain and all its subdomains.
    Add {
        domain: String,
        #[arg(long)]
        note: Option<String>,
        /// How the first poll reports certificates that exist already.
        #[arg(long, value_enum)]
        backfill: Option<Backfill>,
        /// A canary entry: its certificates are expected; silence is a health alert.
        #[arg(long)]
        canary: bool,
    },
    /// The watch list with each entry's poll status.
    #[command(alias = "ls")]
    List,
    /// Stop watching a domain.
    #[command(alias = "remove")]
    Rm { domain: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Backfill {
    Summary,
    Alert,
}

impl Backfill {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Summary => "summary",
            Self::Alert => "alert",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Push deployed certificates (PEM cert/fullchain, leaf first, or DER), as the certbot hook
    /// does: retried on network errors, 429 and 5xx.
    Push {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Attempts per certificate.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
        attempts: u32,
        /// First backoff in seconds (doubles each retry).
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
        retry_delay: f64,
    },
    /// List inventory certificates (optionally those with a DNS name).
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeySource {
    /// A certificate signing request (PEM or DER), sent to the API, which checks its
    /// signature (proof that you hold the private key).
    #[arg(long, value_name = "FILE")]
    pub csr: Option<PathBuf>,
    /// A PEM PUBLIC KEY or certificate, sent to the API as is.
    #[arg(long, value_name = "FILE")]
    pub pem: Option<PathBuf>,
    /// The SHA-256 (hex) of the DER SubjectPublicKeyInfo.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Authorize a public key: every certificate for it, past and future, is not an alert.
    Add {
        #[command(flatten)]
        source: KeySource,
        /// The names the key is for (comma-separated or repeated); with --csr, default: the
        /// CSR's DNS names.
        #[arg(long, value_delimiter = ',', value_name = "NAME")]
        names: Vec<String>,
        #[arg(long)]
        note: Option<String>,
        /// When the authorization ends (RFC 3339, or a duration from now: 90d, 12h).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
    },
    /// List authorized keys.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Withdraw a key's authorization.
    #[command(alias = "remove")]
    Rm {
        #[arg(value_name = "PUBKEY_SHA256")]
        sha256: String,
    },
    /// Mark a key compromised: it authorizes nothing any more and every new certificate for
    /// it is a critical alert (compromised_key), pushed or not.
    Compromised {
        #[command(flatten)]
        source: KeySource,
        /// Why (recorded with the mark and quoted in the alerts).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// Items per page (1-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Continue from a previous page's next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[arg(long, value_enum)]
    pub severity: Option<Severity>,
    /// First seen at or after: RFC 3339, or a duration back from now (30m, 24h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only alerts that matched this watch entry.
    #[arg(long)]
    pub domain: Option<String>,
    /// Items per page (1-1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Continue from a previous page's next_cursor.
    #[arg(long, conflicts_with = "follow")]
    pub cursor: Option<String>,
    /// Keep polling and print new alerts as they arrive (with --json: one alert per line).
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with --follow (1-3600).
    #[arg(long, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    /// Stop --follow after this many polls (default: until interrupted).
    #[arg(long, value_name = "N", requires = "follow")]
    pub max_polls: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Severity {
    Info,
    Pending,
    Suspicious,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Pending => "pending",
            Self::Suspicious => "suspicious",
        }
    }
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The alert's tbs_sha256.
    pub tbs: String,
    /// Why it is fine (or what was done).
    #[arg(long)]
    pub note: Option<String>,
}
