//! Errors and the exit codes scripts rely on.

use std::path::PathBuf;

/// Exit codes (also in `ctguard --help` and the README).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The API refused the request (4xx other than 401, 403, 404): invalid input, conflict…
    pub const API: i32 = 1;
    /// Usage, configuration or local input error (bad flags, no URL or token, unreadable file).
    pub const USAGE: i32 = 2;
    /// Authentication or authorisation: HTTP 401 or 403, or no AWS credentials for SigV4.
    pub const AUTH: i32 = 3;
    /// HTTP 404: no such domain, alert, key or certificate.
    pub const NOT_FOUND: i32 = 4;
    /// The API could not be reached or failed: network error, timeout, HTTP 5xx, an answer
    /// that is not the API's JSON.
    pub const UNAVAILABLE: i32 = 5;
}

/// What went wrong; each kind maps to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error("{}: {message}", .path.display())]
    Input { path: PathBuf, message: String },
    #[error("HTTP {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Network(String),
    #[error("unexpected answer from the API: {0}")]
    BadResponse(String),
    #[error("SigV4: {0}")]
    Credentials(String),
    /// Already printed (per file by `certs push`); only its exit code is left to give.
    #[error("{0}")]
    Reported(Box<CliError>),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::Config(_) | Self::Input { .. } => exit::USAGE,
            Self::Api { status, .. } => match status {
                401 | 403 => exit::AUTH,
                404 => exit::NOT_FOUND,
                500.. => exit::UNAVAILABLE,
                _ => exit::API,
            },
            Self::Network(_) | Self::BadResponse(_) => exit::UNAVAILABLE,
            Self::Credentials(_) => exit::AUTH,
            Self::Reported(inner) => inner.exit_code(),
        }
    }

    /// The `code` of the `{"error": {"code", "message"}}` printed with `--json`: the API's own
    /// code for API errors, a fixed word for local ones.
    pub fn code(&self) -> &str {
        match self {
            Self::Usage(_) => "usage",
            Self::Config(_) => "config",
            Self::Input { .. } => "input",
            Self::Api { code, .. } => code,
            Self::Network(_) => "network",
            Self::BadResponse(_) => "bad_response",
            Self::Credentials(_) => "credentials",
            Self::Reported(inner) => inner.code(),
        }
    }

    /// The message without the HTTP status and code (they are separate fields in JSON).
    pub fn message(&self) -> String {
        match self {
            Self::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({"code": self.code(), "message": self.message()});
        if let Self::Api { status, .. } = self {
            error["status"] = (*status).into();
        }
        serde_json::json!({ "error": error })
    }

    /// The same error (and exit code) with `prefix` before its message.
    pub fn context(self, prefix: &str) -> Self {
        match self {
            Self::Usage(m) => Self::Usage(format!("{prefix}: {m}")),
            Self::Config(m) => Self::Config(format!("{prefix}: {m}")),
            Self::Network(m) => Self::Network(format!("{prefix}: {m}")),
            Self::BadResponse(m) => Self::BadResponse(format!("{prefix}: {m}")),
            Self::Credentials(m) => Self::Credentials(format!("{prefix}: {m}")),
            Self::Api {
                status,
                code,
                message,
            } => Self::Api {
                status,
                code,
                message: format!("{prefix}: {message}"),
            },
            other => other,
        }
    }

    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// An error and its causes on one line (reqwest's own message alone is "error sending request").
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
