//! A fake Cert Spotter API (`GET /v1/issuances`) on 127.0.0.1 with a random port.
//!
//! It behaves like the real API where the client cares: issuances get increasing decimal-string
//! ids in insertion order; `domain` filtering (exact name, subdomains with
//! `include_subdomains=true`, `*.parent` wildcards covering the domain with
//! `match_wildcards=true`); `after=<id>` paging; only unexpired issuances (switchable); fields
//! only present when their `expand=` is asked for; page sizes taken from a configurable,
//! repeating sequence; a bearer token checked when configured. Requests can be scripted with a
//! queue of [`Fault`]s, and every request is recorded ([`RecordedQuery`]).
//!
//! Hashes are computed here, independently of the code under test: `cert_sha256` = SHA-256 of
//! the DER, `pubkey_sha256` = SHA-256 of the raw SubjectPublicKeyInfo (x509-parser),
//! `tbs_sha256` = SHA-256 of the raw TBSCertificate for certificates without CT extensions, or a
//! hash the test passes (precert / final pairs).
//!
//! This is test support: setup mistakes (unparsable DER, a CT certificate without an explicit
//! TBS hash) panic with a message.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const OID_CT_POISON: &str = "1.3.6.1.4.1.11129.2.4.3";
const OID_CT_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// One issuance held by the fake (the id is assigned when it is added).
#[derive(Debug, Clone)]
pub struct FakeIssuance {
    pub tbs_sha256: [u8; 32],
    pub cert_sha256: [u8; 32],
    pub pubkey_sha256: [u8; 32],
    pub dns_names: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub cert_der: Vec<u8>,
    pub issuer_name: String,
    /// The issuer's CAA identifiers (`issuer.caa_domains`); `["ctguard.test"]` by default.
    pub caa_domains: Vec<String>,
    pub revoked: bool,
}

impl FakeIssuance {
    /// From a certificate without CT extensions: `tbs_sha256` is the hash of its raw TBS.
    pub fn from_cert_der(der: &[u8]) -> Self {
        let (issuance, has_ct_extension) = Self::parse(der, None);
        assert!(
            !has_ct_extension,
            "certificate has a CT poison or SCT-list extension: use from_cert_der_with_tbs \
             and pass the issuance's TBS hash"
        );
        issuance
    }

    /// From any certificate, with the issuance's TBS hash given by the test.
    pub fn from_cert_der_with_tbs(der: &[u8], tbs_sha256: [u8; 32]) -> Self {
        Self::parse(der, Some(tbs_sha256)).0
    }

    fn parse(der: &[u8], tbs_sha256: Option<[u8; 32]>) -> (Self, bool) {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .unwrap_or_else(|e| panic!("fake Cert Spotter: not a DER certificate: {e}"));
        assert!(
            rest.is_empty(),
            "fake Cert Spotter: trailing bytes after the certificate"
        );
        let has_ct_extension = cert.extensions().iter().any(|ext| {
            let oid = ext.oid.to_id_string();
            oid == OID_CT_POISON || oid == OID_CT_SCT_LIST
        });
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let time = |t: &x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0).expect("certificate time in range")
        };
        let issuance = Self {
            tbs_sha256: tbs_sha256
                .unwrap_or_else(|| Sha256::digest(cert.tbs_certificate.as_ref()).into()),
            cert_sha256: Sha256::digest(der).into(),
            pubkey_sha256: Sha256::digest(cert.public_key().raw).into(),
            dns_names,
            not_before: time(&cert.validity().not_before),
            not_after: time(&cert.validity().not_after),
            cert_der: der.to_vec(),
            issuer_name: cert.issuer().to_string(),
            caa_domains: vec!["ctguard.test".to_owned()],
            revoked: false,
        };
        (issuance, has_ct_extension)
    }
}

/// `Retry-After` forms.
#[derive(Debug, Clone)]
pub enum RetryAfter {
    Seconds(u64),
    Date(SystemTime),
}

/// What to do to the next request instead of (or before) answering it normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with an optional `Retry-After` and a `rate_limited` error body.
    RateLimited { retry_after: Option<RetryAfter> },
    /// This status (e.g. 500, 503) with a JSON error body.
    Status(u16),
    /// Wait, then answer normally.
    Delay(Duration),
    /// 200 with the normal page cut in the middle (a complete HTTP response).
    TruncatedJson,
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// 200 with a valid-JSON body (an empty array padded with whitespace) of `bytes` bytes;
    /// `chunked` sends it without `Content-Length`, in chunks.
    Oversized { bytes: usize, chunked: bool },
    /// An API error object with this status.
    ApiError {
        status: u16,
        code: String,
        message: String,
    },
    /// 200, the start of the normal page, then the connection is cut.
    AbortBody,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedQuery {
    pub path: String,
    pub params: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    /// When it arrived.
    pub at: tokio::time::Instant,
}

impl RecordedQuery {
    /// The first value of `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

struct Stored {
    id: u64,
    issuance: FakeIssuance,
}

struct FakeState {
    issuances: Vec<Stored>,
    next_id: u64,
    page_sizes: Vec<usize>,
    pages_served: usize,
    token: Option<String>,
    include_expired: bool,
    faults: VecDeque<Fault>,
    queries: Vec<RecordedQuery>,
    /// Added to every request (a real API's round trip).
    latency: Duration,
    in_flight: usize,
    max_in_flight: usize,
    /// Keep every request in `queries` (off for long benchmarks: only counted).
    record_queries: bool,
    query_count: usize,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    // A panicking test thread must not hide the recorded state from the others.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running fake; stops when dropped.
pub struct FakeCertSpotter {
    addr: SocketAddr,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCertSpotter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeCertSpotter {
    /// Starts on 127.0.0.1, random port; pages of 100 by default, no token required.
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState {
            issuances: Vec::new(),
            // Real ids are large; start high so nothing relies on small numbers.
            next_id: 4_326_219_500,
            page_sizes: vec![100],
            pages_served: 0,
            token: None,
            include_expired: false,
            faults: VecDeque::new(),
            queries: Vec::new(),
            latency: Duration::ZERO,
            in_flight: 0,
            max_in_flight: 0,
            record_queries: true,
            query_count: 0,
        }));
        let app = Router::new()
            .route("/v1/issuances", get(issuances))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// Base URL to configure the client with (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a certificate without CT extensions; returns its id.
    pub fn add_cert_der(&self, der: &[u8]) -> String {
        self.add_issuance(FakeIssuance::from_cert_der(der))
    }

    /// Adds a certificate with the issuance's TBS hash given (precert / final cert); returns its id.
    pub fn add_cert_der_with_tbs(&self, der: &[u8], tbs_sha256: [u8; 32]) -> String {
        self.add_issuance(FakeIssuance::from_cert_der_with_tbs(der, tbs_sha256))
    }

    /// Adds an issuance (possibly edited by the test); returns its id.
    pub fn add_issuance(&self, issuance: FakeIssuance) -> String {
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.issuances.push(Stored { id, issuance });
        id.to_string()
    }

    /// Page sizes, used in turn for each normal page served, repeating (must not be empty or 0).
    pub fn set_page_sizes(&self, sizes: &[usize]) {
        assert!(
            !sizes.is_empty() && sizes.iter().all(|&s| s > 0),
            "page sizes must be positive"
        );
        let mut state = lock(&self.state);
        state.page_sizes = sizes.to_vec();
        state.pages_served = 0;
    }

    /// Require `Authorization: Bearer <token>` (401 otherwise).
    pub fn require_token(&self, token: &str) {
        lock(&self.state).token = Some(token.to_owned());
    }

    /// Also serve expired issuances (the real API does not).
    pub fn set_include_expired(&self, include: bool) {
        lock(&self.state).include_expired = include;
    }

    /// Queues a fault for the next request not yet given one.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Faults not consumed yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.state).faults.len()
    }

    /// Every request received so far.
    pub fn queries(&self) -> Vec<RecordedQuery> {
        lock(&self.state).queries.clone()
    }

    pub fn clear_queries(&self) {
        lock(&self.state).queries.clear();
    }

    /// Every request takes this long more (the real API's round trip, ~300 ms).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// Keep (default) or only count requests (a long benchmark's memory).
    pub fn set_record_queries(&self, record: bool) {
        lock(&self.state).record_queries = record;
    }

    /// Requests received so far (recorded or not).
    pub fn query_count(&self) -> usize {
        lock(&self.state).query_count
    }

    /// The most requests answered at once so far.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state).max_in_flight
    }
}

async fn issuances(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (fault, latency) = {
        let mut s = lock(&state);
        s.query_count += 1;
        if s.record_queries {
            s.queries.push(RecordedQuery {
                path: "/v1/issuances".into(),
                params: params.clone(),
                authorization: header_text(header::AUTHORIZATION),
                user_agent: header_text(header::USER_AGENT),
                at: tokio::time::Instant::now(),
            });
        }
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        (s.faults.pop_front(), s.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    lock(&state).in_flight -= 1;
    let fault = match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        other => other,
    };
    match fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "You have exceeded the rate limit.",
            );
            if let Some(retry_after) = retry_after {
                let value = match retry_after {
                    RetryAfter::Seconds(s) => s.to_string(),
                    RetryAfter::Date(when) => httpdate::fmt_http_date(when),
                };
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, value.parse().expect("header value"));
            }
            return response;
        }
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).expect("valid status");
            return error(status, "internal_error", "Injected failure.");
        }
        Some(Fault::ApiError {
            status,
            code,
            message,
        }) => {
            return error(
                StatusCode::from_u16(status).expect("valid status"),
                &code,
                &message,
            );
        }
        Some(Fault::MalformedJson) => {
            return json_body("<html>this is not JSON</html>".to_owned());
        }
        Some(Fault::Oversized { bytes, chunked }) => {
            let padding = bytes.saturating_sub(2);
            let text = format!("[{}]", " ".repeat(padding));
            if chunked {
                let chunks = text
                    .into_bytes()
                    .chunks(16 * 1024)
                    .map(Bytes::copy_from_slice)
                    .collect();
                return json_stream(ChunkedBody::new(chunks, false));
            }
            return json_body(text);
        }
        _ => {}
    }

    let page = {
        let mut s = lock(&state);
        if let Some(token) = &s.token {
            let expected = format!("Bearer {token}");
            if header_text(header::AUTHORIZATION).as_deref() != Some(expected.as_str()) {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Missing or invalid API key.",
                );
            }
        }
        match render_page(&mut s, &params) {
            Ok(page) => page,
            Err(message) => return error(StatusCode::BAD_REQUEST, "invalid_request", &message),
        }
    };
    match fault {
        Some(Fault::TruncatedJson) => json_body(page[..page.len() / 2].to_owned()),
        Some(Fault::AbortBody) => {
            let half = Bytes::copy_from_slice(&page.as_bytes()[..page.len() / 2]);
            json_stream(ChunkedBody::new(vec![half], true))
        }
        _ => json_body(page),
    }
}

fn render_page(state: &mut FakeState, params: &[(String, String)]) -> Result<String, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let flag = |name: &str| -> Result<bool, String> {
        match get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!("{name} must be true or false, not {other:?}")),
        }
    };
    let domain = get("domain")
        .filter(|d| !d.is_empty())
        .ok_or("domain is required")?
        .to_ascii_lowercase();
    let include_subdomains = flag("include_subdomains")?;
    let match_wildcards = flag("match_wildcards")?;
    let after = match get("after") {
        None => None,
        Some(a) => Some(
            a.parse::<u64>()
                .map_err(|_| format!("after must be an issuance id, not {a:?}"))?,
        ),
    };
    let expand: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v.as_str())
        .collect();
    for e in &expand {
        if ![
            "dns_names",
            "issuer",
            "issuer.caa_domains",
            "revocation",
            "problem_reporting",
            "cert_der",
            "pubkey_der",
        ]
        .contains(e)
        {
            return Err(format!("unknown expand {e:?}"));
        }
    }

    let size = state.page_sizes[state.pages_served % state.page_sizes.len()];
    state.pages_served += 1;
    let now = Utc::now();
    let page: Vec<Value> = state
        .issuances
        .iter()
        .filter(|s| after.is_none_or(|after| s.id > after))
        .filter(|s| state.include_expired || s.issuance.not_after > now)
        .filter(|s| {
            s.issuance
                .dns_names
                .iter()
                .any(|name| name_matches(name, &domain, include_subdomains, match_wildcards))
        })
        .take(size)
        .map(|s| render_issuance(s, &expand))
        .collect();
    Ok(Value::Array(page).to_string())
}

/// The API's matching: the name itself, its subdomains, or a wildcard that covers it.
fn name_matches(name: &str, domain: &str, include_subdomains: bool, match_wildcards: bool) -> bool {
    let name = name.to_ascii_lowercase();
    if name == domain {
        return true;
    }
    if include_subdomains && name.ends_with(&format!(".{domain}")) {
        return true;
    }
    // (`*.example.com` under `example.com` is already a subdomain name above.)
    match_wildcards
        && name.strip_prefix("*.").is_some_and(|wildcard_parent| {
            domain
                .split_once('.')
                .is_some_and(|(_, parent)| parent == wildcard_parent)
        })
}

fn render_issuance(stored: &Stored, expand: &[&str]) -> Value {
    let i = &stored.issuance;
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut object = json!({
        "id": stored.id.to_string(),
        "tbs_sha256": hex::encode(i.tbs_sha256),
        "cert_sha256": hex::encode(i.cert_sha256),
        "pubkey_sha256": hex::encode(i.pubkey_sha256),
        "not_before": time(&i.not_before),
        "not_after": time(&i.not_after),
    });
    let fields = object.as_object_mut().expect("object");
    if expand.contains(&"dns_names") {
        fields.insert("dns_names".into(), json!(i.dns_names));
    }
    if expand.contains(&"issuer") {
        fields.insert(
            "issuer".into(),
            json!({
                "friendly_name": "ctguard test CA",
                "name": i.issuer_name,
                "caa_domains": i.caa_domains,
                "operator": {"name": "ctguard tests", "website": "https://ctguard.test/"},
            }),
        );
    }
    if expand.contains(&"revocation") {
        fields.insert("revoked".into(), json!(i.revoked));
        fields.insert(
            "revocation".into(),
            json!({"time": null, "reason": null, "checked_at": time(&Utc::now())}),
        );
    }
    if expand.contains(&"problem_reporting") {
        fields.insert(
            "problem_reporting".into(),
            json!("mailto:abuse@ctguard.test"),
        );
    }
    if expand.contains(&"cert_der") {
        fields.insert("cert_der".into(), json!(BASE64.encode(&i.cert_der)));
    }
    object
}

fn json_body(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn json_stream(body: ChunkedBody) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(body),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"code": code, "message": message}).to_string(),
    )
        .into_response()
}

/// A body sent in chunks with no length (chunked encoding), optionally failing at the end so
/// the server cuts the connection mid-response.
struct ChunkedBody {
    chunks: VecDeque<Bytes>,
    fail_at_end: bool,
}

impl ChunkedBody {
    fn new(chunks: Vec<Bytes>, fail_at_end: bool) -> Self {
        Self {
            chunks: chunks.into(),
            fail_at_end,
        }
    }
}

impl http_body::Body for ChunkedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
        }
        if std::mem::take(&mut self.fail_at_end) {
            return Poll::Ready(Some(Err(std::io::Error::other("injected: connection cut"))));
        }
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn domain_matching_follows_the_api() {
        // exact
        assert!(name_matches("Example.com", "example.com", false, false));
        assert!(!name_matches(
            "www.example.com",
            "example.com",
            false,
            false
        ));
        // subdomains
        assert!(name_matches("a.b.example.com", "example.com", true, false));
        assert!(!name_matches("badexample.com", "example.com", true, false));
        // wildcards covering the domain
        assert!(name_matches(
            "*.example.com",
            "www.example.com",
            false,
            true
        ));
        assert!(!name_matches(
            "*.example.com",
            "www.example.com",
            false,
            false
        ));
        assert!(!name_matches(
            "*.example.com",
            "a.www.example.com",
            false,
            true
        ));
        assert!(!name_matches("*.other.com", "www.example.com", true, true));
        // a wildcard under the domain is a subdomain name
        assert!(name_matches("*.example.com", "example.com", true, true));
        assert!(name_matches("*.x.example.com", "example.com", true, false));
    }
}
