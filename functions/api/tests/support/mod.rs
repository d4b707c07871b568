//! Test support: an app over the in-memory store, Function URL events built as AWS sends them,
//! and certificates made with rcgen.
#![allow(dead_code)]

use std::sync::Arc;

use api::auth::{AuthMode, Role, TokenEntry};
use api::{ApiSettings, App};
use base64::Engine;
use ctguard::hash::Sha256Hash;
use ctguard::store::memory::MemoryStore;
use http::HeaderMap;
use serde_json::{Value, json};

pub const PUSH_TOKEN: &str = "push-token-for-host-1";
pub const ADMIN_TOKEN: &str = "admin-token-for-ops";
pub const PUSH_LABEL: &str = "lb:host-1";
pub const ADMIN_LABEL: &str = "ops";

pub fn tokens() -> Vec<TokenEntry> {
    vec![
        TokenEntry {
            sha256: Sha256Hash::digest(PUSH_TOKEN.as_bytes()),
            role: Role::Push,
            label: PUSH_LABEL.into(),
        },
        TokenEntry {
            sha256: Sha256Hash::digest(ADMIN_TOKEN.as_bytes()),
            role: Role::Admin,
            label: ADMIN_LABEL.into(),
        },
    ]
}

pub fn settings() -> ApiSettings {
    ApiSettings::new(AuthMode::Bearer(tokens()))
}

pub fn app() -> Arc<App<MemoryStore>> {
    Arc::new(App::new(MemoryStore::new(), settings()))
}

/// One HTTP request, turned into a Lambda Function URL event (payload format 2.0).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query exactly as on the wire (percent-encoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub force_base64: bool,
}

impl Req {
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            headers: vec![],
            body: None,
            force_base64: false,
        }
    }
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }
    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }
    pub fn delete(target: &str) -> Self {
        Self::new("DELETE", target)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn admin(self) -> Self {
        self.token(ADMIN_TOKEN)
    }
    pub fn push(self) -> Self {
        self.token(PUSH_TOKEN)
    }
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }
    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
    pub fn json(self, value: Value) -> Self {
        self.body("application/json", value.to_string())
    }
    pub fn pem(self, pem: &str) -> Self {
        self.body("application/x-pem-file", pem.as_bytes().to_vec())
    }
    /// Send the body base64-encoded, as Function URLs do for binary content types.
    pub fn base64(mut self) -> Self {
        self.force_base64 = true;
        self
    }

    /// The Function URL event AWS would deliver for this request.
    pub fn event(&self) -> Value {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        let mut headers = serde_json::Map::new();
        headers.insert("host".into(), json!("abcdefgh.lambda-url.us-east-1.on.aws"));
        headers.insert("x-forwarded-proto".into(), json!("https"));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), json!(value));
        }
        let (body, is_base64) = match &self.body {
            None => (Value::Null, false),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) if !self.force_base64 => (json!(text), false),
                _ => (
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    true,
                ),
            },
        };
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abcdefgh",
                "domainName": "abcdefgh.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abcdefgh",
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "198.51.100.7",
                    "userAgent": "curl/8.5.0"
                },
                "requestId": "c4d1a4a0-0000-4000-8000-000000000000",
                "routeKey": "$default",
                "stage": "$default",
                "time": "12/Mar/2025:19:03:58 +0000",
                "timeEpoch": 1741806238000i64
            },
            "body": body,
            "isBase64Encoded": is_base64
        })
    }

    /// Deserialised with lambda_http's own event types, as the runtime does.
    pub fn lambda_request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event().to_string())
            .expect("a valid Function URL event")
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// `error.code` of a JSON error body (and checks the envelope's shape).
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert!(v["error"]["message"].is_string(), "no error.message in {v}");
        v["error"]["code"].as_str().expect("error.code").to_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send<S: api::Store>(app: &App<S>, req: Req) -> Resp {
    let response = app.handle(req.lambda_request()).await;
    let (parts, body) = response.into_parts();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.to_vec(),
    }
}

/// A test CA and leaves, made with rcgen.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

pub struct Leaf {
    pub pem: String,
    pub der: Vec<u8>,
    pub fullchain: String,
    pub key: rcgen::KeyPair,
}

impl Ca {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ctguard api test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    pub fn issue(&self, names: &[&str]) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        self.issue_with_key(names, key)
    }

    pub fn issue_with_key(&self, names: &[&str], key: rcgen::KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            fullchain: format!("{}{}", cert.pem(), self.pem),
            key,
        }
    }
}

/// The TBS hash computed independently of ctguard: SHA-256 of the raw TBSCertificate (equal to
/// the RFC 6962 hash for certificates without SCT or poison extensions, as these are).
pub fn independent_tbs_sha256(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    Sha256Hash::digest(cert.tbs_certificate.as_ref()).to_hex()
}

/// SHA-256 of the leaf's SubjectPublicKeyInfo, computed independently.
pub fn independent_spki_sha256(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    Sha256Hash::digest(cert.tbs_certificate.subject_pki.raw).to_hex()
}

/// An alert as the poller would store it (no watch-entry matches, so no domain parsing).
pub fn alert(
    seed: &str,
    severity: ctguard::model::Severity,
    first_seen_at: chrono::DateTime<chrono::Utc>,
) -> ctguard::model::Alert {
    use ctguard::model::{Alert, Delivery, IssuerInfo};
    Alert {
        tbs_sha256: Sha256Hash::digest(format!("tbs-{seed}").as_bytes()),
        issuance_id: format!("issuance-{seed}"),
        cert_sha256: Sha256Hash::digest(format!("cert-{seed}").as_bytes()),
        pubkey_sha256: Sha256Hash::digest(format!("key-{seed}").as_bytes()),
        dns_names: vec![format!("{seed}.example.org")],
        matched: vec![],
        issuer: IssuerInfo::default(),
        not_before: first_seen_at,
        not_after: first_seen_at + chrono::Duration::days(90),
        revoked: false,
        problem_reporting: None,
        severity,
        authorized_by: None,
        first_seen_at,
        classified_at: first_seen_at,
        grace_until: None,
        baseline: false,
        sns: Delivery::queued(),
        email: Delivery::skipped(),
        ack: None,
        expires_at: None,
    }
}
