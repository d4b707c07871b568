//! Requests as Lambda Function URL events (payload format 2.0, as AWS sends them), turned into
//! `lambda_http::Request`s by lambda_http's own deserializer, and responses read back.

use super::InProcess;
use base64::Engine;
use http::HeaderMap;
use serde_json::{Value, json};

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
    /// The row of the route table that answered (`None`: the router itself, 404/405/400).
    pub route: Option<crate::router::RouteId>,
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

/// Sends one request through the app's router, as a Function URL event.
pub async fn send<S: crate::Store>(api: &InProcess<S>, req: Req) -> Resp {
    let response = api.call(req.lambda_request()).await;
    let (parts, body) = response.into_parts();
    Resp {
        status: parts.status.as_u16(),
        route: parts.extensions.get().copied(),
        headers: parts.headers,
        body: body.to_vec(),
    }
}
