//! Where the API's URL and the caller's credentials come from.
//!
//! Precedence, highest first (each setting separately):
//! - URL: `--url`, then `CTGUARD_URL`, then `url` in the config file.
//! - Token: `--token-file`, then `CTGUARD_TOKEN`, then `CTGUARD_TOKEN_FILE`, then `token_file`
//!   in the config file, then `token` in the config file. Never a command-line value: a token
//!   on a command line is visible to every user in the process list and lands in shell history.
//! - Auth mode: `--sigv4`, else `auth` in the config file (`"token"`, the default, or
//!   `"aws_iam"`).
//! - Config file: `--config FILE`, then `CTGUARD_CONFIG`, then
//!   `$XDG_CONFIG_HOME/ctguard/config.toml` (default `~/.config/ctguard/config.toml`; a missing
//!   default file is fine, a missing named one is an error).
//!
//! Files holding a token (token file, or a config file with `token`) must belong to the user
//! and not be readable by group or others, as the certbot hook requires.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::CliError;

/// The config file's contents. Unknown keys are an error (a typo must not silently fall back).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub auth: Option<AuthKind>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Token,
    AwsIam,
}

/// The flags that take part in configuration.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub sigv4: bool,
    pub region: Option<String>,
    pub allow_http: bool,
    pub timeout_seconds: Option<u64>,
}

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    /// SigV4 for a Function URL with `AuthType: AWS_IAM`; the region if known from flags or
    /// config (else from the URL or the AWS default chain).
    SigV4 {
        region: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::SigV4 { region } => write!(f, "SigV4 {{ region: {region:?} }}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The API's base URL without a trailing slash.
    pub url: reqwest::Url,
    pub auth: Auth,
    pub timeout: Duration,
}

const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// The environment, as a function so tests can supply one.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The config file to read, and whether it must exist.
pub fn config_path(flags: &Flags, env: EnvLookup<'_>) -> Option<(PathBuf, bool)> {
    if let Some(path) = &flags.config {
        return Some((path.clone(), true));
    }
    if let Some(path) = env("CTGUARD_CONFIG") {
        return Some((PathBuf::from(path), true));
    }
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some((base.join("ctguard").join("config.toml"), false))
}

pub fn load_file(
    flags: &Flags,
    env: EnvLookup<'_>,
) -> Result<(FileConfig, Option<PathBuf>), CliError> {
    let Some((path, required)) = config_path(flags, env) else {
        return Ok((FileConfig::default(), None));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok((FileConfig::default(), None));
        }
        Err(e) => {
            return Err(CliError::Config(format!(
                "config file {}: {e}",
                path.display()
            )));
        }
    };
    let config: FileConfig = toml::from_str(&text)
        .map_err(|e| CliError::Config(format!("config file {}: {e}", path.display())))?;
    Ok((config, Some(path)))
}

/// Resolves the settings every API command needs.
pub fn resolve(flags: &Flags, env: EnvLookup<'_>) -> Result<Settings, CliError> {
    let (file, file_path) = load_file(flags, env)?;

    let url_text = flags
        .url
        .clone()
        .or_else(|| env("CTGUARD_URL"))
        .or(file.url.clone())
        .ok_or_else(|| {
            CliError::Config(
                "no API URL: pass --url, set CTGUARD_URL, or put url = \"https://…\" in the config file"
                    .into(),
            )
        })?;
    let allow_http = flags.allow_http
        || env("CTGUARD_ALLOW_HTTP").as_deref() == Some("1")
        || file.allow_http == Some(true);
    let url = parse_url(&url_text, allow_http)?;

    let sigv4 = flags.sigv4 || file.auth == Some(AuthKind::AwsIam);
    let auth = if sigv4 {
        Auth::SigV4 {
            region: flags.region.clone().or(file.region.clone()),
        }
    } else {
        Auth::Bearer(token(flags, env, &file, file_path.as_deref())?)
    };

    let timeout_seconds = flags
        .timeout_seconds
        .or(file.timeout_seconds)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=600).contains(&timeout_seconds) {
        return Err(CliError::Config(format!(
            "timeout must be 1 to 600 seconds, not {timeout_seconds}"
        )));
    }
    Ok(Settings {
        url,
        auth,
        timeout: Duration::from_secs(timeout_seconds),
    })
}

/// `https://`, or `http://` to a loopback address (`api --listen`) or with `allow_http`.
pub fn parse_url(text: &str, allow_http: bool) -> Result<reqwest::Url, CliError> {
    let text = text.trim();
    let mut url = reqwest::Url::parse(text)
        .map_err(|e| CliError::Config(format!("API URL {text:?}: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => {
            return Err(CliError::Config(format!(
                "API URL {text}: must be https:// (the token would cross the network in clear); \
                 http:// is accepted for loopback addresses, or with --allow-http / CTGUARD_ALLOW_HTTP=1"
            )));
        }
        other => {
            return Err(CliError::Config(format!(
                "API URL {text}: unsupported scheme {other}:// (use https://)"
            )));
        }
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(CliError::Config(format!(
            "API URL {text}: expected the base URL, e.g. https://<id>.lambda-url.<region>.on.aws"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CliError::Config(format!(
            "API URL {text}: credentials in the URL are not accepted"
        )));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn token(
    flags: &Flags,
    env: EnvLookup<'_>,
    file: &FileConfig,
    file_path: Option<&Path>,
) -> Result<String, CliError> {
    if let Some(path) = &flags.token_file {
        return read_token_file(path, "--token-file");
    }
    if let Some(token) = env("CTGUARD_TOKEN") {
        return clean_token(&token, "CTGUARD_TOKEN");
    }
    if let Some(path) = env("CTGUARD_TOKEN_FILE") {
        return read_token_file(Path::new(&path), "CTGUARD_TOKEN_FILE");
    }
    if let Some(path) = &file.token_file {
        return read_token_file(path, "token_file (config file)");
    }
    if let (Some(token), Some(path)) = (&file.token, file_path) {
        check_private(path, "the config file (it holds a token)")?;
        return clean_token(token, "token (config file)");
    }
    Err(CliError::Config(
        "no token: set CTGUARD_TOKEN or CTGUARD_TOKEN_FILE, pass --token-file FILE, or put \
         token_file = \"…\" in the config file (or use --sigv4 for an AWS_IAM Function URL)"
            .into(),
    ))
}

fn clean_token(token: &str, from: &str) -> Result<String, CliError> {
    let token: String = token.chars().filter(|c| !c.is_whitespace()).collect();
    if token.is_empty() {
        return Err(CliError::Config(format!("{from}: the token is empty")));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CliError::Config(format!(
            "{from}: the token holds characters that cannot go in an HTTP header"
        )));
    }
    Ok(token)
}

fn read_token_file(path: &Path, from: &str) -> Result<String, CliError> {
    check_private(path, from)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Config(format!("{from} {}: {e}", path.display())))?;
    clean_token(&text, &format!("{from} {}", path.display()))
}

/// The file must be a regular file of the current user, unreadable by group and others.
#[cfg(unix)]
fn check_private(path: &Path, what: &str) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::Config(format!("{what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::Config(format!(
            "{what} {}: not a regular file",
            path.display()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Config(format!(
            "refusing {what} {}: it is readable by group or others (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(CliError::Config(format!(
            "refusing {what} {}: it is owned by uid {}, not by you ({me})",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _what: &str) -> Result<(), CliError> {
    Ok(())
}

/// The region of a Function URL host, `<id>.lambda-url.<region>.on.aws`.
pub fn region_from_url(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let rest = host.split_once(".lambda-url.")?.1;
    let region = rest.strip_suffix(".on.aws")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_url_region() {
        let url = reqwest::Url::parse("https://abc123.lambda-url.eu-west-1.on.aws").unwrap();
        assert_eq!(region_from_url(&url).as_deref(), Some("eu-west-1"));
        let url = reqwest::Url::parse("https://api.example.org").unwrap();
        assert_eq!(region_from_url(&url), None);
    }

    #[test]
    fn http_only_for_loopback_or_when_allowed() {
        assert!(parse_url("http://127.0.0.1:8080/", false).is_ok());
        assert!(parse_url("http://[::1]:8080", false).is_ok());
        assert!(parse_url("http://localhost:8080", false).is_ok());
        assert!(matches!(
            parse_url("http://api.example.org", false),
            Err(CliError::Config(_))
        ));
        assert!(parse_url("http://api.example.org", true).is_ok());
        assert!(parse_url("ftp://api.example.org", true).is_err());
        assert!(parse_url("https://user:pw@api.example.org", false).is_err());
        assert_eq!(
            parse_url("https://x.example/prefix/", false)
                .unwrap()
                .as_str(),
            "https://x.example/prefix"
        );
    }

    #[test]
    fn config_path_honours_xdg_config_home() {
        let env = |name: &str| match name {
            "XDG_CONFIG_HOME" => Some("/xdg".to_owned()),
            "HOME" => Some("/home/op".to_owned()),
            _ => None,
        };
        let flags = Flags::default();
        assert_eq!(
            config_path(&flags, &env),
            Some((PathBuf::from("/xdg/ctguard/config.toml"), false))
        );
        let env = |name: &str| (name == "HOME").then(|| "/home/op".to_owned());
        assert_eq!(
            config_path(&flags, &env),
            Some((PathBuf::from("/home/op/.config/ctguard/config.toml"), false))
        );
        let flags = Flags {
            config: Some("/etc/ctguard.toml".into()),
            ..Flags::default()
        };
        assert_eq!(
            config_path(&flags, &env),
            Some((PathBuf::from("/etc/ctguard.toml"), true))
        );
    }
}
