//! The API client: one request, authenticated (bearer token or SigV4), answered as JSON or as
//! a typed error.

use std::time::SystemTime;

use aws_credential_types::provider::SharedCredentialsProvider;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::config::{Auth, Settings, region_from_url};
use crate::error::{CliError, chain};
use crate::sigv4;

/// Most of an error body shown when it is not the API's JSON.
const SNIPPET: usize = 200;

pub enum Body {
    Json(Value),
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// `Value::Null` for 204.
    pub body: Value,
}

enum Signer {
    Bearer(String),
    SigV4 {
        provider: SharedCredentialsProvider,
        region: String,
    },
}

pub struct Api {
    http: reqwest::Client,
    base: Url,
    signer: Signer,
}

impl Api {
    pub async fn new(settings: Settings) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(10)))
            .timeout(settings.timeout)
            .user_agent(concat!("ctguard-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Network(chain(&e)))?;
        let signer = match settings.auth {
            Auth::Bearer(token) => Signer::Bearer(token),
            Auth::SigV4 { region } => {
                let (provider, chain_region) = sigv4::default_chain().await;
                let provider = provider.ok_or_else(|| {
                    CliError::Credentials(
                        "the AWS default chain has no credentials provider".into(),
                    )
                })?;
                let region = region
                    .or_else(|| region_from_url(&settings.url))
                    .or(chain_region)
                    .ok_or_else(|| {
                        CliError::Config(
                            "SigV4 needs a region: pass --region, set region in the config file or AWS_REGION"
                                .into(),
                        )
                    })?;
                Signer::SigV4 { provider, region }
            }
        };
        Ok(Self {
            http,
            base: settings.url,
            signer,
        })
    }

    /// `base` + path segments (each percent-encoded) + query pairs.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Answer, CliError> {
        self.send(Method::GET, self.url(segments, query), None)
            .await
    }

    pub async fn post(&self, segments: &[&str], body: Option<Body>) -> Result<Answer, CliError> {
        self.send(Method::POST, self.url(segments, &[]), body).await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Answer, CliError> {
        self.send(Method::DELETE, self.url(segments, &[]), None)
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Body>,
    ) -> Result<Answer, CliError> {
        let mut builder = self.http.request(method, url.clone());
        builder = match body {
            Some(Body::Json(value)) => builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(value.to_string()),
            Some(Body::Raw {
                content_type,
                bytes,
            }) => builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
            None => builder,
        };
        let mut request = builder.build().map_err(|e| CliError::Usage(chain(&e)))?;
        match &self.signer {
            Signer::Bearer(token) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| {
                        CliError::Config("the token is not a valid header value".into())
                    })?;
                value.set_sensitive(true);
                request
                    .headers_mut()
                    .insert(reqwest::header::AUTHORIZATION, value);
            }
            Signer::SigV4 { provider, region } => {
                let credentials = sigv4::credentials(provider).await?;
                sigv4::sign_request(&mut request, &credentials, region, SystemTime::now())?;
            }
        }
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| CliError::Network(format!("{}: {}", redact(&url), chain(&e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CliError::Network(format!("{}: {}", redact(&url), chain(&e))))?;
        if status.is_success() {
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::BadResponse(format!("HTTP {status}, body is not JSON ({e})"))
                })?
            };
            return Ok(Answer { status, body });
        }
        Err(api_error(status, &bytes))
    }
}

/// The URL without its query (a cursor is long and says nothing to a person).
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// The API's `{"error": {"code", "message"}}`, or a description of whatever came instead
/// (a proxy's HTML page, a Lambda runtime error).
fn api_error(status: StatusCode, bytes: &[u8]) -> CliError {
    let parsed: Option<(String, String)> =
        serde_json::from_slice::<Value>(bytes).ok().and_then(|v| {
            let error = v.get("error")?;
            Some((
                error.get("code")?.as_str()?.to_owned(),
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ))
        });
    let (code, message) = parsed.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let snippet: String = text
            .chars()
            .take(SNIPPET)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        (
            format!("http_{}", status.as_u16()),
            if snippet.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                snippet
            },
        )
    });
    CliError::Api {
        status: status.as_u16(),
        code,
        message,
    }
}
