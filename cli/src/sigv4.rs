//! SigV4 signing for a Function URL with `AuthType: AWS_IAM` (service `lambda`), with
//! credentials from the AWS default chain (environment, profile, SSO, IMDS…).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::error::{CliError, chain};

pub const SERVICE: &str = "lambda";

/// Signs `request` in place: adds `x-amz-date`, `authorization` and, for temporary
/// credentials, `x-amz-security-token`. Every header already on the request is signed, so
/// set them (content type) first; headers the HTTP client adds later (user agent, length)
/// are not signed, as SigV4 allows.
pub fn sign_request(
    request: &mut reqwest::Request,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), CliError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CliError::Credentials(chain(&e)))?
        .into();
    let body: &[u8] = request
        .body()
        .map(|b| b.as_bytes().unwrap_or_default())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            value
                .to_str()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
                .map_err(|_| CliError::Usage(format!("header {name} is not ASCII")))
        })
        .collect::<Result<_, _>>()?;
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| CliError::Credentials(chain(&e)))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| CliError::Credentials(chain(&e)))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let invalid = || CliError::Credentials(format!("signed header {name} is not valid"));
        let header =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| invalid())?;
        request.headers_mut().insert(header, value);
    }
    Ok(())
}

/// The credentials provider and region of the AWS default chain.
pub async fn default_chain() -> (Option<SharedCredentialsProvider>, Option<String>) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    (
        config.credentials_provider(),
        config.region().map(|r| r.to_string()),
    )
}

pub async fn credentials(provider: &SharedCredentialsProvider) -> Result<Credentials, CliError> {
    provider.provide_credentials().await.map_err(|e| {
        CliError::Credentials(format!(
            "no AWS credentials from the default chain (environment, profile, SSO, instance role): {}",
            chain(&e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;

    /// Signatures computed by botocore (`tests/data/sigv4_botocore.py`), not by aws-sigv4.
    const FIXTURE: &str = include_str!("../tests/data/sigv4_botocore.json");

    #[test]
    fn signatures_match_botocore() {
        let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
        let time: chrono::DateTime<chrono::Utc> =
            fixture["time"].as_str().unwrap().parse().unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(time.timestamp() as u64);
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let credentials = Credentials::new(
                fixture["access_key_id"].as_str().unwrap(),
                fixture["secret_access_key"].as_str().unwrap(),
                case["session_token"].as_str().map(str::to_owned),
                None,
                "fixture",
            );
            let url = format!(
                "{}{}",
                fixture["url"].as_str().unwrap(),
                case["path"].as_str().unwrap()
            );
            let client = reqwest::Client::new();
            let mut builder = client.request(
                case["method"].as_str().unwrap().parse().unwrap(),
                reqwest::Url::parse(&url).unwrap(),
            );
            for (name, value) in case["headers"].as_object().unwrap() {
                builder = builder.header(name, value.as_str().unwrap());
            }
            let body = case["body"].as_str().unwrap();
            if !body.is_empty() {
                builder = builder.body(body.to_owned());
            }
            let mut request = builder.build().unwrap();
            sign_request(
                &mut request,
                &credentials,
                fixture["region"].as_str().unwrap(),
                time,
            )
            .unwrap();

            let expected = case["signed_headers"].as_object().unwrap();
            let name = case["name"].as_str().unwrap();
            for header in ["authorization", "x-amz-date", "x-amz-security-token"] {
                assert_eq!(
                    request
                        .headers()
                        .get(header)
                        .map(|v| v.to_str().unwrap().to_owned()),
                    expected.get(header).map(|v| v.as_str().unwrap().to_owned()),
                    "{name}: {header}"
                );
            }
        }
    }

    #[test]
    fn a_changed_body_changes_the_signature() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "t");
        let sign_body = |body: &str| {
            let mut request = reqwest::Client::new()
                .post("https://x.lambda-url.us-east-1.on.aws/domains")
                .header("content-type", "application/json")
                .body(body.to_owned())
                .build()
                .unwrap();
            sign_request(
                &mut request,
                &credentials,
                "us-east-1",
                SystemTime::UNIX_EPOCH,
            )
            .unwrap();
            request.headers()["authorization"].clone()
        };
        assert_ne!(
            sign_body("{\"value\":\"a.org\"}"),
            sign_body("{\"value\":\"b.org\"}")
        );
    }
}
