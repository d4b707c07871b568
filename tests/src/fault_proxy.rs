//! A fault-injecting loopback proxy in front of the AWS emulator.
//!
//! Point an SDK client at [`FaultProxy::url`]: requests are forwarded to the emulator unless a
//! scripted fault matches them (service + action), in which case the next N matching requests
//! fail with the service's own error format (a 500 or a throttling error) or are delayed.
//! Every request is counted per service and action (e.g. DynamoDB requests per issuance).
//!
//! Actions are recognised per protocol: DynamoDB/SQS by `X-Amz-Target`
//! (`DynamoDB_20120810.PutItem` → `PutItem`), SNS by the form field `Action=Publish`, SES v2 by
//! its REST path (`POST /v2/email/outbound-emails` → `SendEmail`). The service comes from the
//! SigV4 credential scope in the `Authorization` header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    DynamoDb,
    Sns,
    Sqs,
    SesV2,
    Ssm,
    Other,
}

impl Service {
    fn from_signing_name(name: &str) -> Self {
        match name {
            "dynamodb" => Service::DynamoDb,
            "sns" => Service::Sns,
            "sqs" => Service::Sqs,
            "ses" => Service::SesV2,
            "ssm" => Service::Ssm,
            _ => Service::Other,
        }
    }
}

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with the service's internal-error code (the SDK retries it).
    ServerError,
    /// The service's throttling error (the SDK retries it with backoff).
    Throttle,
    /// Forward it, after this delay.
    Delay(Duration),
    /// HTTP 400 `AccessDeniedException` (what IAM answers without a grant; not retried).
    AccessDenied,
    /// HTTP 400 DynamoDB `ValidationException` "Item size has exceeded the maximum allowed
    /// size" (what DynamoDB answers for an item over 400 KB; not retried).
    ItemTooLarge,
}

struct Rule {
    service: Service,
    action: String,
    fault: Fault,
    remaining: usize,
}

struct Inner {
    target: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<HashMap<(Service, String), u64>>,
}

/// The proxy; it stops serving when dropped.
pub struct FaultProxy {
    url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `target` (the emulator).
    pub async fn start(target: &str) -> Self {
        let inner = Arc::new(Inner {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .expect("proxy HTTP client"),
            rules: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy on loopback");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let router = Router::new().fallback(handle).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, inner, server }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Applies `fault` to the next `times` requests for `service`'s `action`.
    pub fn inject(&self, service: Service, action: &str, fault: Fault, times: usize) {
        lock(&self.inner.rules).push(Rule {
            service,
            action: action.to_owned(),
            fault,
            remaining: times,
        });
    }

    pub fn fail_next(&self, service: Service, action: &str, times: usize) {
        self.inject(service, action, Fault::ServerError, times);
    }

    pub fn throttle_next(&self, service: Service, action: &str, times: usize) {
        self.inject(service, action, Fault::Throttle, times);
    }

    pub fn delay_next(&self, service: Service, action: &str, delay: Duration, times: usize) {
        self.inject(service, action, Fault::Delay(delay), times);
    }

    /// Scripted faults not yet used up.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.rules).iter().map(|r| r.remaining).sum()
    }

    /// Requests received for `service`'s `action` (faulted ones included).
    pub fn count(&self, service: Service, action: &str) -> u64 {
        lock(&self.inner.counts)
            .get(&(service, action.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests received for `service`, all actions.
    pub fn total(&self, service: Service) -> u64 {
        lock(&self.inner.counts)
            .iter()
            .filter(|((s, _), _)| *s == service)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn counts(&self) -> HashMap<(Service, String), u64> {
        lock(&self.inner.counts).clone()
    }

    pub fn reset_counts(&self) {
        lock(&self.inner.counts).clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SigV4 signing name in `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn signing_service(headers: &HeaderMap) -> Service {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    auth.split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').nth(3))
        .map(Service::from_signing_name)
        .unwrap_or(Service::Other)
}

fn form_action(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action=").map(str::to_owned))
}

/// The operation name of a request.
fn classify(
    method: &http::Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Service, String) {
    let service = signing_service(headers);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let action = if let Some(target) = target {
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some(action) = form_action(body) {
        action
    } else {
        match (method.as_str(), path.trim_end_matches('/')) {
            ("POST", "/v2/email/outbound-emails") => "SendEmail".to_owned(),
            ("POST", "/v2/email/identities") => "CreateEmailIdentity".to_owned(),
            (m, p) => format!("{m} {p}"),
        }
    };
    (service, action)
}

fn take_fault(inner: &Inner, service: Service, action: &str) -> Option<Fault> {
    let mut rules = lock(&inner.rules);
    let rule = rules
        .iter_mut()
        .find(|r| r.remaining > 0 && r.service == service && r.action == action)?;
    rule.remaining -= 1;
    let fault = rule.fault;
    rules.retain(|r| r.remaining > 0);
    Some(fault)
}

/// An error in the service's own wire format, so the SDK parses and classifies it as usual.
fn error_response(service: Service, fault: Fault) -> Response {
    let throttle = fault == Fault::Throttle;
    let message = "injected by the ctguard test fault proxy";
    if fault == Fault::ItemTooLarge {
        let mut response = Response::new(Body::from(format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"Item size has exceeded the maximum allowed size ({message})"}}"#
        )));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
        return response;
    }
    if fault == Fault::AccessDenied {
        // The awsJson error every JSON-protocol service (DynamoDB, SSM, ...) returns.
        let mut response = Response::new(Body::from(format!(
            r#"{{"__type":"AccessDeniedException","message":"{message}"}}"#
        )));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
        return response;
    }
    let (status, content_type, extra, body) = match service {
        Service::DynamoDb | Service::Sqs | Service::Ssm | Service::Other => {
            let namespace = if service == Service::Sqs {
                "com.amazonaws.sqs"
            } else {
                "com.amazonaws.dynamodb.v20120810"
            };
            let code = if throttle {
                "ThrottlingException"
            } else {
                "InternalServerError"
            };
            (
                if throttle {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                "application/x-amz-json-1.0",
                None,
                format!(r#"{{"__type":"{namespace}#{code}","message":"{message}"}}"#),
            )
        }
        Service::Sns => {
            let (kind, code) = if throttle {
                ("Sender", "Throttling")
            } else {
                ("Receiver", "InternalError")
            };
            (
                if throttle {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                "text/xml",
                None,
                format!(
                    "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
                     <Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                     <RequestId>fault-proxy</RequestId></ErrorResponse>"
                ),
            )
        }
        Service::SesV2 => {
            let code = if throttle {
                "TooManyRequestsException"
            } else {
                "InternalFailure"
            };
            (
                if throttle {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                "application/json",
                Some(code),
                format!(r#"{{"message":"{message}"}}"#),
            )
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
    if let Some(code) = extra {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    response
}

fn bad_gateway(message: String) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("fault proxy: cannot read the request: {e}")),
    };
    let path = parts.uri.path().to_owned();
    let (service, action) = classify(&parts.method, &path, &parts.headers, &body);
    *lock(&inner.counts)
        .entry((service, action.clone()))
        .or_insert(0) += 1;

    match take_fault(&inner, service, &action) {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(fault) => return error_response(service, fault),
        None => {}
    }

    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    for h in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::CONNECTION,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(h);
    }
    let forwarded = inner
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", inner.target),
        )
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match forwarded {
        Ok(r) => r,
        Err(e) => return bad_gateway(format!("fault proxy: emulator unreachable: {e}")),
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    for h in [
        header::CONTENT_LENGTH,
        header::CONNECTION,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(h);
    }
    let bytes = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("fault proxy: emulator response: {e}")),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=00";

    #[test]
    fn classifies_each_protocol() {
        let post = http::Method::POST;
        let dynamo = headers(&[
            ("authorization", &AUTH.replace("{svc}", "dynamodb")),
            ("x-amz-target", "DynamoDB_20120810.PutItem"),
        ]);
        assert_eq!(
            classify(&post, "/", &dynamo, b"{}"),
            (Service::DynamoDb, "PutItem".into())
        );

        let sns = headers(&[("authorization", &AUTH.replace("{svc}", "sns"))]);
        let body = b"Action=Publish&Version=2010-03-31&TopicArn=x";
        assert_eq!(
            classify(&post, "/", &sns, body),
            (Service::Sns, "Publish".into())
        );

        let ses = headers(&[("authorization", &AUTH.replace("{svc}", "ses"))]);
        assert_eq!(
            classify(&post, "/v2/email/outbound-emails", &ses, b"{}"),
            (Service::SesV2, "SendEmail".into())
        );
        assert_eq!(
            classify(
                &http::Method::GET,
                "/moto-api/data.json",
                &HeaderMap::new(),
                b""
            ),
            (Service::Other, "GET /moto-api/data.json".into())
        );
    }
}
