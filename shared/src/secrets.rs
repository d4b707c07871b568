//! Secrets from SSM Parameter Store, read once at cold start by both functions.
//!
//! A deployed function gets the NAME of a SecureString parameter in `<SECRET>_PARAM` (e.g.
//! `API_TOKENS_PARAM`) and reads it with `GetParameter` + `WithDecryption`; local runs set the
//! value itself in `<SECRET>` (e.g. `API_TOKENS`). [`resolve`] picks the parameter when its
//! variable is set, else the plain variable. Errors name the parameter and the variable; the
//! value is never logged nor put in an error.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

/// Why a secret could not be read from SSM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{variable}: SSM parameter {name} does not exist (create it as a SecureString, see infra/deploy.md)"
    )]
    NotFound {
        variable: &'static str,
        name: String,
    },
    #[error(
        "{variable}: access to SSM parameter {name} denied ({code}): the function needs \
         ssm:GetParameter on it (and kms:Decrypt if it is encrypted with a customer key)"
    )]
    AccessDenied {
        variable: &'static str,
        name: String,
        code: String,
    },
    #[error("{variable}: SSM parameter {name} is empty")]
    Empty {
        variable: &'static str,
        name: String,
    },
    #[error("{variable}: cannot read SSM parameter {name}: {message}")]
    Unavailable {
        variable: &'static str,
        name: String,
        message: String,
    },
}

impl SecretError {
    /// The environment variable that named the parameter.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::NotFound { variable, .. }
            | Self::AccessDenied { variable, .. }
            | Self::Empty { variable, .. }
            | Self::Unavailable { variable, .. } => variable,
        }
    }
}

/// Where a configured secret came from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Read from the SSM parameter `name` (named by the `*_PARAM` variable).
    Ssm { name: String, value: String },
    /// The plain environment variable (local runs).
    Plain(String),
    /// Neither variable is set.
    Unset,
}

impl Secret {
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Ssm { value, .. } | Self::Plain(value) => Some(value),
            Self::Unset => None,
        }
    }

    pub fn into_value(self) -> Option<String> {
        match self {
            Self::Ssm { value, .. } | Self::Plain(value) => Some(value),
            Self::Unset => None,
        }
    }
}

/// Never prints the value.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ssm { name, .. } => write!(f, "Secret::Ssm({name}, <redacted>)"),
            Self::Plain(_) => f.write_str("Secret::Plain(<redacted>)"),
            Self::Unset => f.write_str("Secret::Unset"),
        }
    }
}

/// Reads the secret named by `param_var` from SSM if that variable is set (not blank), else
/// the plain variable `plain_var`. Blank values count as unset.
pub async fn resolve(
    lookup: impl Fn(&str) -> Option<String>,
    param_var: &'static str,
    plain_var: &'static str,
    ssm: &Client,
) -> Result<Secret, SecretError> {
    let set = |var: &str| {
        lookup(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(name) = set(param_var) {
        let value = get_secure_string(ssm, param_var, &name).await?;
        return Ok(Secret::Ssm { name, value });
    }
    Ok(set(plain_var).map_or(Secret::Unset, Secret::Plain))
}

/// `GetParameter` with decryption; the value trimmed of surrounding whitespace.
pub async fn get_secure_string(
    ssm: &Client,
    variable: &'static str,
    name: &str,
) -> Result<String, SecretError> {
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| classify(e, variable, name))?;
    let value = output
        .parameter
        .and_then(|p| p.value)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SecretError::Empty {
            variable,
            name: name.to_owned(),
        })?;
    tracing::info!(variable, parameter = name, "secret read from SSM");
    Ok(value)
}

fn classify(error: SdkError<GetParameterError>, variable: &'static str, name: &str) -> SecretError {
    let name = name.to_owned();
    if let Some(service) = error.as_service_error() {
        if service.is_parameter_not_found() {
            return SecretError::NotFound { variable, name };
        }
        let code = service.code().unwrap_or_default();
        if service.is_invalid_key_id()
            || code.contains("AccessDenied")
            || code.starts_with("KMS")
            || code == "UnrecognizedClientException"
        {
            return SecretError::AccessDenied {
                variable,
                name,
                code: code.to_owned(),
            };
        }
    }
    SecretError::Unavailable {
        variable,
        name,
        message: DisplayErrorContext(&error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let ssm = Secret::Ssm {
            name: "/ctguard/x".into(),
            value: "hunter2".into(),
        };
        let plain = Secret::Plain("hunter2".into());
        for secret in [ssm, plain] {
            let shown = format!("{secret:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert_eq!(secret.value(), Some("hunter2"));
        }
        assert_eq!(Secret::Unset.into_value(), None);
    }

    #[test]
    fn errors_name_the_parameter_and_the_variable() {
        let err = SecretError::NotFound {
            variable: "API_TOKENS_PARAM",
            name: "/ctguard/api-tokens".into(),
        };
        let text = err.to_string();
        assert!(text.contains("API_TOKENS_PARAM") && text.contains("/ctguard/api-tokens"));
        assert_eq!(err.variable(), "API_TOKENS_PARAM");
    }
}
