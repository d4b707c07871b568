//! Configuration, read once from the environment at start-up. Each failure names the variable.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `WATCHES_TABLE`, `INVENTORY_TABLE`, `ALERTS_TABLE` | DynamoDB table names | required |
//! | `AUTH_MODE` | `token` (bearer tokens) or `iam` (Function URL `AuthType: AWS_IAM`) | `token` |
//! | `API_TOKENS_PARAM` | token mode, deployed: name of the SSM SecureString holding the `API_TOKENS` JSON, read at start-up (wins over `API_TOKENS`) | unset |
//! | `API_TOKENS` | token mode, local runs: JSON `[{"sha256": "<hex of SHA-256 of the token>", "role": "push"\|"admin", "label": "lb:host-1"}]` | required in token mode without `API_TOKENS_PARAM` |
//! | `IAM_ADMIN_PRINCIPALS` | iam mode: comma-separated IAM principals given role admin (role ARNs match their sessions; forms: `iam_principal`) | empty |
//! | `IAM_PUSH_PRINCIPALS` | iam mode: the same for role push; a signed caller in neither list is refused (403); at least one list must be set | empty |
//! | `MAX_BODY_BYTES` | request body limit (413 above it) | 65536 |
//! | `CERT_RETENTION_DAYS` | an inventory certificate is kept this long after its `not_after` | 30 |
//! | `ALERT_TOPIC_ARN`, `EMAIL_FROM`, `EMAIL_TO` | the poller's alert channels, used only by `POST /alerts/test` | unset (channel reported `not_configured`) |
//! | `CURSOR_KEY_PARAM` | deployed: name of the SSM SecureString holding the pagination cursor HMAC key (wins over `CURSOR_KEY`) | unset |
//! | `CURSOR_KEY` | local runs: the cursor HMAC key itself, at least 32 characters | unset: derived from the token hashes ([`ApiSettings::new`]) |

use chrono::Duration;

use ctguard::secrets::{self, Secret, SecretError};

use ctguard::store::dynamo::{
    ALERTS_TABLE_ENV, INVENTORY_TABLE_ENV, TableNames, WATCHES_TABLE_ENV,
};

use crate::auth::{AuthMode, TokenEntry, tokens_from_json};
use crate::cursor::CursorKey;
use crate::iam_principal;
use crate::notify::NotifySettings;

/// The variable naming the SSM parameter that holds the token JSON (deployed).
pub const API_TOKENS_PARAM: &str = "API_TOKENS_PARAM";
/// The variable holding the token JSON itself (local runs).
pub const API_TOKENS: &str = "API_TOKENS";
/// The variable naming the SSM parameter that holds the cursor signing key (deployed).
pub const CURSOR_KEY_PARAM: &str = "CURSOR_KEY_PARAM";
/// The variable holding the cursor signing key itself (local runs).
pub const CURSOR_KEY: &str = "CURSOR_KEY";
/// A shorter configured cursor key is refused (it could be guessed).
const MIN_CURSOR_KEY_LEN: usize = 32;

/// iam mode: the principals given role admin, and role push.
pub const IAM_ADMIN_PRINCIPALS: &str = "IAM_ADMIN_PRINCIPALS";
pub const IAM_PUSH_PRINCIPALS: &str = "IAM_PUSH_PRINCIPALS";

/// Lambda's own request payload limit; a larger body limit could never apply.
const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    /// The SSM parameter could not be read (missing, access denied, empty, unreachable).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The SSM parameter was read but its content is unusable.
    #[error("{var}: SSM parameter {name} is invalid: {reason}")]
    InvalidParameter {
        var: &'static str,
        name: String,
        reason: String,
    },
}

/// What the request handling needs, independent of where the data lives.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub auth: AuthMode,
    pub max_body_bytes: usize,
    /// Added to a certificate's `not_after` to get the record's `expires_at` (DynamoDB TTL).
    pub cert_retention: Duration,
    /// Signs pagination cursors.
    pub cursor_key: CursorKey,
}

impl ApiSettings {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
    pub const DEFAULT_CERT_RETENTION_DAYS: i64 = 30;

    /// Defaults, with the cursor key derived from `auth` ([`derived_cursor_key`]).
    pub fn new(auth: AuthMode) -> Self {
        Self {
            cursor_key: derived_cursor_key(&auth),
            auth,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            cert_retention: Duration::days(Self::DEFAULT_CERT_RETENTION_DAYS),
        }
    }
}

/// The cursor key when none is configured. Token mode: derived from every configured token
/// hash, role and label, which live in an SSM SecureString in a deployed stack and which no
/// push-token holder knows in full (rotating a token invalidates outstanding cursors: a
/// listing restarts). IAM mode has no secret to derive from: the key comes from the push
/// principal list, which is not secret, so set `CURSOR_KEY_PARAM` (a warning says so).
pub fn derived_cursor_key(auth: &AuthMode) -> CursorKey {
    match auth {
        AuthMode::Bearer(tokens) => CursorKey::derived(tokens.iter().flat_map(|t| {
            let role: &[u8] = match t.role {
                crate::auth::Role::Push => b"push",
                crate::auth::Role::Admin => b"admin",
            };
            [t.sha256.as_bytes().as_slice(), role, t.label.as_bytes()]
        })),
        AuthMode::Iam {
            admin_principals,
            push_principals,
        } => CursorKey::derived(
            std::iter::once(&b"iam"[..])
                .chain(admin_principals.iter().map(|p| p.as_str().as_bytes()))
                .chain(std::iter::once(&b"push"[..]))
                .chain(push_principals.iter().map(|p| p.as_str().as_bytes())),
        ),
    }
}

/// A configured cursor key, checked for length; the error never contains it.
fn cursor_key_from(var: &'static str, value: &str) -> Result<CursorKey, ConfigError> {
    if value.len() < MIN_CURSOR_KEY_LEN {
        return Err(ConfigError::Invalid {
            var,
            reason: format!(
                "the cursor key is {} bytes long; use at least {MIN_CURSOR_KEY_LEN} \
                 (e.g. `openssl rand -hex 32`)",
                value.len()
            ),
        });
    }
    Ok(CursorKey::new(value.as_bytes()))
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB tables (shared with the poller).
    pub tables: TableNames,
    pub api: ApiSettings,
    /// The alert channels (for `POST /alerts/test`).
    pub notify: NotifySettings,
}

impl Config {
    /// Reads the process environment, and the token hashes from SSM when `API_TOKENS_PARAM`
    /// names a parameter (token mode).
    pub async fn from_env(ssm: &aws_sdk_ssm::Client) -> Result<Self, ConfigError> {
        Self::load(|name| std::env::var(name).ok(), ssm).await
    }

    /// Like [`Config::from_env`] over any variable source. Only token mode reads SSM.
    pub async fn load(
        get: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::load_tokens(&get, ssm).await?;
        if let Secret::Ssm { value, .. } =
            secrets::resolve(&get, CURSOR_KEY_PARAM, CURSOR_KEY, ssm).await?
        {
            config.api.cursor_key = cursor_key_from(CURSOR_KEY_PARAM, &value)?;
        }
        Ok(config)
    }

    /// Everything but an SSM cursor key: only token mode reads SSM here.
    async fn load_tokens(
        get: impl Fn(&str) -> Option<String>,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, ConfigError> {
        if !token_mode(&get) {
            return Self::from_lookup(get);
        }
        match secrets::resolve(&get, API_TOKENS_PARAM, API_TOKENS, ssm).await? {
            Secret::Ssm { name, value } => {
                let tokens =
                    tokens_from_json(&value).map_err(|e| ConfigError::InvalidParameter {
                        var: API_TOKENS_PARAM,
                        name,
                        reason: e.to_string(),
                    })?;
                Self::read(get, Some(tokens))
            }
            Secret::Plain(_) | Secret::Unset => Self::from_lookup(get),
        }
    }

    /// Reads the configuration through `get` (the environment in production, a map in tests),
    /// the token hashes from the plain `API_TOKENS` (no SSM).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(get, None)
    }

    /// `tokens`: already read from SSM; `None` reads `API_TOKENS`.
    fn read(
        get: impl Fn(&str) -> Option<String>,
        tokens: Option<Vec<TokenEntry>>,
    ) -> Result<Self, ConfigError> {
        let required = |var: &'static str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned())
                .ok_or(ConfigError::Missing(var))
        };
        let invalid = |var: &'static str, reason: String| ConfigError::Invalid { var, reason };

        let tables = TableNames {
            watches: required(WATCHES_TABLE_ENV)?,
            inventory: required(INVENTORY_TABLE_ENV)?,
            alerts: required(ALERTS_TABLE_ENV)?,
        };

        let auth = match get("AUTH_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("token") => match tokens {
                Some(tokens) => AuthMode::Bearer(tokens),
                None => {
                    let json = required(API_TOKENS)?;
                    AuthMode::Bearer(
                        tokens_from_json(&json).map_err(|e| invalid(API_TOKENS, e.to_string()))?,
                    )
                }
            },
            Some("iam") => {
                let list = |var: &'static str| {
                    iam_principal::parse_list(&get(var).unwrap_or_default())
                        .map_err(|e| invalid(var, e.to_string()))
                };
                let admin_principals = list(IAM_ADMIN_PRINCIPALS)?;
                let push_principals = list(IAM_PUSH_PRINCIPALS)?;
                if admin_principals.is_empty() && push_principals.is_empty() {
                    return Err(invalid(
                        IAM_ADMIN_PRINCIPALS,
                        format!(
                            "AUTH_MODE=iam needs {IAM_ADMIN_PRINCIPALS} or {IAM_PUSH_PRINCIPALS} (no caller would have a role)"
                        ),
                    ));
                }
                if let Some(both) = admin_principals
                    .iter()
                    .find(|p| push_principals.contains(p))
                {
                    return Err(invalid(
                        IAM_PUSH_PRINCIPALS,
                        format!("{} is also in {IAM_ADMIN_PRINCIPALS}", both.as_str()),
                    ));
                }
                AuthMode::Iam {
                    admin_principals,
                    push_principals,
                }
            }
            Some(other) => {
                return Err(invalid(
                    "AUTH_MODE",
                    format!(
                        "{}: expected \"token\" or \"iam\"",
                        crate::error::echo(other)
                    ),
                ));
            }
        };

        let number =
            |var: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| match get(var)
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        invalid(
                            var,
                            format!(
                                "{}: expected an integer from {} to {}",
                                crate::error::echo(v),
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            };
        let max_body_bytes = number(
            "MAX_BODY_BYTES",
            ApiSettings::DEFAULT_MAX_BODY_BYTES as i64,
            1..=LAMBDA_PAYLOAD_LIMIT as i64,
        )? as usize;
        let retention_days = number(
            "CERT_RETENTION_DAYS",
            ApiSettings::DEFAULT_CERT_RETENTION_DAYS,
            0..=3650,
        )?;

        let optional = |var: &str| {
            get(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let email = match (optional("EMAIL_FROM"), optional("EMAIL_TO")) {
            (Some(from), Some(to)) => Some((
                from,
                to.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            _ => None,
        };
        let notify = NotifySettings {
            topic_arn: optional("ALERT_TOPIC_ARN"),
            email,
        };

        let cursor_key = match get(CURSOR_KEY).map(|v| v.trim().to_owned()) {
            Some(key) if !key.is_empty() => cursor_key_from(CURSOR_KEY, &key)?,
            _ => {
                if matches!(auth, AuthMode::Iam { .. }) && get(CURSOR_KEY_PARAM).is_none() {
                    tracing::warn!(
                        "no CURSOR_KEY_PARAM or CURSOR_KEY in IAM mode: pagination cursors are \
                         signed with a key derived from public configuration"
                    );
                }
                derived_cursor_key(&auth)
            }
        };

        Ok(Self {
            tables,
            api: ApiSettings {
                auth,
                max_body_bytes,
                cert_retention: Duration::days(retention_days),
                cursor_key,
            },
            notify,
        })
    }
}

fn token_mode(get: &impl Fn(&str) -> Option<String>) -> bool {
    matches!(
        get("AUTH_MODE").as_deref().map(str::trim),
        None | Some("") | Some("token")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn tokens() -> String {
        let hash = ctguard::hash::Sha256Hash::digest(b"t").to_hex();
        format!(r#"[{{"sha256":"{hash}","role":"admin","label":"ops"}}]"#)
    }

    #[test]
    fn reads_a_complete_token_configuration_with_defaults() {
        let tokens = tokens();
        let env = lookup(&[
            ("WATCHES_TABLE", "w"),
            ("INVENTORY_TABLE", "i"),
            ("ALERTS_TABLE", "a"),
            ("API_TOKENS", &tokens),
        ]);
        let config = Config::from_lookup(env).unwrap();
        assert_eq!(config.tables.inventory, "i");
        assert_eq!(config.api.max_body_bytes, 65536);
        assert_eq!(config.api.cert_retention, Duration::days(30));
        assert!(matches!(config.api.auth, AuthMode::Bearer(ref t) if t.len() == 1));
    }

    #[test]
    fn each_missing_or_bad_variable_is_named() {
        let tokens = tokens();
        let base = [
            ("WATCHES_TABLE", "w"),
            ("INVENTORY_TABLE", "i"),
            ("ALERTS_TABLE", "a"),
            ("API_TOKENS", tokens.as_str()),
        ];
        for missing in [
            "WATCHES_TABLE",
            "INVENTORY_TABLE",
            "ALERTS_TABLE",
            "API_TOKENS",
        ] {
            let pairs: Vec<_> = base
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
            assert!(err.to_string().contains(missing));
        }
        for (var, value) in [
            ("API_TOKENS", "not json"),
            ("AUTH_MODE", "none"),
            ("MAX_BODY_BYTES", "0"),
            ("MAX_BODY_BYTES", "64k"),
            ("MAX_BODY_BYTES", "99999999"),
            ("CERT_RETENTION_DAYS", "-1"),
        ] {
            let mut pairs: Vec<_> = base.iter().copied().filter(|(k, _)| *k != var).collect();
            pairs.push((var, value));
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {err}"
            );
        }
    }

    /// A token pasted where its hash belongs (a bare JSON string, or in `sha256`) must not end
    /// up in the error, which is logged and printed.
    #[test]
    fn token_config_errors_never_echo_the_value() {
        let secret = "s3cr3t-t0ken-value-do-not-log";
        for value in [
            format!("\"{secret}\""),
            secret.to_owned(),
            format!(r#"[{{"sha256":"{secret}","role":"push","label":"lb"}}]"#),
            format!(
                r#"[{{"sha256":"{}","role":"{secret}","label":"lb"}}]"#,
                "a".repeat(64)
            ),
            format!(r#"{{"{secret}": 1}}"#),
        ] {
            let env = lookup(&[
                ("WATCHES_TABLE", "w"),
                ("INVENTORY_TABLE", "i"),
                ("ALERTS_TABLE", "a"),
                ("API_TOKENS", &value),
            ]);
            let err = Config::from_lookup(env).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("s3cr3t"), "{value}: {shown}");
            assert!(shown.contains("API_TOKENS"), "{shown}");
        }
    }

    #[test]
    fn a_cursor_key_is_configured_or_derived_from_the_tokens() {
        let tokens = tokens();
        let base = [
            ("WATCHES_TABLE", "w"),
            ("INVENTORY_TABLE", "i"),
            ("ALERTS_TABLE", "a"),
            ("API_TOKENS", tokens.as_str()),
        ];
        let key = "k".repeat(MIN_CURSOR_KEY_LEN);
        let with_key =
            Config::from_lookup(lookup(&[&base[..], &[("CURSOR_KEY", &key)]].concat())).unwrap();
        let cursor = CursorKey::new(key.as_bytes()).seal("l", "t");
        assert_eq!(with_key.api.cursor_key.open("l", &cursor).unwrap(), "t");
        let derived = Config::from_lookup(lookup(&base)).unwrap();
        assert!(derived.api.cursor_key.open("l", &cursor).is_err());
        let sealed = derived.api.cursor_key.seal("l", "t");
        let again = Config::from_lookup(lookup(&base)).unwrap();
        assert_eq!(again.api.cursor_key.open("l", &sealed).unwrap(), "t");

        let short = "s3cr3t".to_owned();
        let err = Config::from_lookup(lookup(&[&base[..], &[("CURSOR_KEY", &short)]].concat()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    var: CURSOR_KEY,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn iam_mode_needs_no_tokens_but_principal_lists() {
        let base = [
            ("WATCHES_TABLE", "w"),
            ("INVENTORY_TABLE", "i"),
            ("ALERTS_TABLE", "a"),
            ("AUTH_MODE", "iam"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(lookup(&pairs))
        };
        let config = with(&[
            (
                "IAM_PUSH_PRINCIPALS",
                " arn:aws:iam::123456789012:role/lb/ , ,arn:aws:iam::123456789012:role/lb2",
            ),
            ("IAM_ADMIN_PRINCIPALS", "arn:aws:iam::123456789012:user/ops"),
            ("MAX_BODY_BYTES", "1024"),
        ])
        .unwrap();
        assert_eq!(config.api.max_body_bytes, 1024);
        match config.api.auth {
            AuthMode::Iam {
                admin_principals,
                push_principals,
            } => {
                let text = |l: &[iam_principal::PrincipalPattern]| {
                    l.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>()
                };
                assert_eq!(
                    text(&admin_principals),
                    ["arn:aws:iam::123456789012:user/ops"]
                );
                assert_eq!(
                    text(&push_principals),
                    [
                        "arn:aws:iam::123456789012:role/lb/",
                        "arn:aws:iam::123456789012:role/lb2"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        // No list at all, a non-ARN entry, one principal in both lists: refused at start-up.
        for (extra, var) in [
            (&[][..], "IAM_ADMIN_PRINCIPALS"),
            (
                &[("IAM_ADMIN_PRINCIPALS", "ops")][..],
                "IAM_ADMIN_PRINCIPALS",
            ),
            (
                &[("IAM_PUSH_PRINCIPALS", "arn:x")][..],
                "IAM_PUSH_PRINCIPALS",
            ),
            (
                &[
                    ("IAM_ADMIN_PRINCIPALS", "arn:aws:iam::123456789012:role/a"),
                    ("IAM_PUSH_PRINCIPALS", "arn:aws:iam::123456789012:role/a"),
                ][..],
                "IAM_PUSH_PRINCIPALS",
            ),
        ] {
            let err = with(extra).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{extra:?}: {err}"
            );
        }
    }
}
