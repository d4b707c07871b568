//! Shared setup of the poller's end-to-end tests: the emulator (per-test tables, an SNS topic
//! with an SQS queue subscribed, a verified SES sender), the fake Cert Spotter, the certificate
//! factory, and the REAL poller built by `poller::app::build` from a `Config` read the way the
//! Lambda reads it, invoked through the real handler with a real EventBridge scheduled event.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::Utc;
use ctguard::cert::CertIdentity;
use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, AuthorizedKey, BackfillMode, InventoryCert, WatchEntry};
use ctguard::store::dynamo::DynamoStore;
use ctguard::store::{AlertStore, InventoryStore, PageRequest, WatchStore};
use ctguard_core::fixtures::{authorized_key, inventory_cert};
use ctguard_tests::aws::{POLLER_FUNCTION, SentEmail, SnsEnvelope, SnsProbe, TestAws};
use ctguard_tests::certs::{LeafSpec, TestCa, TestCert};
use ctguard_tests::fake_certspotter::FakeCertSpotter;
use ctguard_tests::fault_proxy::FaultProxy;
use lambda_runtime::{Context, LambdaEvent};
use poller::app::{LivePoller, build};
use poller::{Config, RunReport};

/// A real EventBridge scheduled event, as Lambda receives it.
pub const SCHEDULED_EVENT: &str = r#"{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2026-01-15T12:00:00Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:123456789012:rule/ctguard-poller-schedule"],
  "detail": {}
}"#;

pub struct Env {
    pub aws: TestAws,
    pub fake: FakeCertSpotter,
    pub probe: SnsProbe,
    pub email_from: String,
    pub email_to: String,
    pub ca: TestCa,
    /// Extra or overriding environment variables for the poller's configuration.
    pub vars: HashMap<String, String>,
    /// A store straight on the emulator, for setup and checks.
    pub store: DynamoStore,
    /// The poller's own AWS configuration: credentials named after PollerFunction, so the
    /// emulator's call record attributes its calls (tests/tests/iam_per_function.rs).
    pub poller_sdk: aws_config::SdkConfig,
}

impl Env {
    pub async fn new() -> Self {
        let aws = TestAws::new().await;
        let fake = FakeCertSpotter::start().await;
        let probe = aws.sns_probe("alerts").await;
        let email_from = aws.unique_email("ctguard");
        let email_to = aws.unique_email("ops");
        aws.verify_email_identity(&email_from).await;
        let store = aws.store();
        let poller_sdk = aws.function_config(POLLER_FUNCTION).await;
        Self {
            poller_sdk,
            aws,
            fake,
            probe,
            email_from,
            email_to,
            ca: TestCa::new("ctguard e2e test CA"),
            vars: HashMap::new(),
            store,
        }
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// The configuration as the Lambda reads it from its environment.
    pub fn config(&self) -> Config {
        let vars = self.env_vars();
        Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test configuration")
    }

    /// The configuration as the Lambda's cold start loads it: the environment, and the
    /// secrets whose `*_PARAM` variable names an SSM parameter from the emulator.
    pub async fn load_config(&self) -> Result<Config, poller::config::ConfigError> {
        let vars = self.env_vars();
        let ssm = aws_sdk_ssm::Client::new(&self.poller_sdk);
        Config::load(|name| vars.get(name).cloned(), &ssm).await
    }

    /// The poller's environment: the test defaults, then [`Env::set`] overrides.
    pub fn env_vars(&self) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = [
            ("WATCHES_TABLE", self.aws.tables.watches.clone()),
            ("INVENTORY_TABLE", self.aws.tables.inventory.clone()),
            ("ALERTS_TABLE", self.aws.tables.alerts.clone()),
            ("CERTSPOTTER_API_URL", self.fake.url()),
            ("CERTSPOTTER_TIMEOUT", "5s".to_owned()),
            ("CERTSPOTTER_MAX_RETRIES", "0".to_owned()),
            ("ALERT_TOPIC_ARN", self.probe.topic_arn.clone()),
            ("EMAIL_FROM", self.email_from.clone()),
            ("EMAIL_TO", self.email_to.clone()),
            ("GRACE_PERIOD", "0".to_owned()),
            ("DEADLINE_MARGIN", "2s".to_owned()),
            // No DNS from tests unless one starts the loopback responder (tests/src/dns.rs).
            ("CAA_RESOLVER", "off".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        vars.extend(self.vars.clone());
        vars
    }

    /// The production poller, its AWS clients on the emulator.
    pub fn poller(&self) -> LivePoller {
        build(&self.config(), &self.poller_sdk).expect("poller builds")
    }

    /// The production poller with every AWS request going through `proxy`.
    pub async fn poller_via(&self, proxy: &FaultProxy) -> LivePoller {
        let sdk = self
            .aws
            .function_config_via(POLLER_FUNCTION, proxy.url())
            .await;
        build(&self.config(), &sdk).expect("poller builds")
    }

    pub async fn proxy(&self) -> FaultProxy {
        FaultProxy::start(&self.aws.endpoint).await
    }

    /// A watch entry whose baseline is done: new issuances alert one by one.
    pub async fn watch(&self, domain: &str) {
        let mut entry = WatchEntry::new(d(domain), None, BackfillMode::Summary, Utc::now());
        entry.baseline_completed_at = Some(Utc::now());
        assert!(self.store.create_watch(&entry).await.expect("create_watch"));
    }

    /// A watch entry never polled: its first poll is the baseline.
    pub async fn watch_new(&self, domain: &str, backfill: BackfillMode) {
        let entry = WatchEntry::new(d(domain), None, backfill, Utc::now());
        assert!(self.store.create_watch(&entry).await.expect("create_watch"));
    }

    pub async fn entry(&self, domain: &str) -> WatchEntry {
        self.store
            .get_watch(&d(domain))
            .await
            .expect("get_watch")
            .expect("entry exists")
    }

    /// Issues a certificate for `names` and logs it at the fake Cert Spotter.
    pub fn log_cert(&self, names: &[&str]) -> (TestCert, CertIdentity) {
        let cert = self.ca.issue(&LeafSpec::for_names(names.iter().copied()));
        self.fake.add_cert_der(&cert.der);
        let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");
        (cert, identity)
    }

    /// What a load balancer's deploy hook pushes: the certificate into the inventory.
    pub async fn push_cert(&self, identity: &CertIdentity) {
        let now = Utc::now();
        self.store
            .put_cert(&InventoryCert {
                pubkey_sha256: Some(identity.pubkey_sha256),
                cert_sha256: Some(identity.cert_sha256),
                dns_names: identity.dns_names.clone(),
                not_before: Some(identity.not_before),
                not_after: Some(identity.not_after),
                serial: Some(identity.serial.clone()),
                issuer: Some(identity.issuer.clone()),
                has_scts: identity.has_sct_list,
                ..inventory_cert(identity.tbs_sha256, &[], "lb:e2e", now)
            })
            .await
            .expect("put_cert");
    }

    pub async fn authorize_key(&self, pubkey: Sha256Hash) {
        self.store
            .put_key(&AuthorizedKey {
                note: Some("e2e".into()),
                ..authorized_key(pubkey, &[], "operator", Utc::now())
            })
            .await
            .expect("put_key");
    }

    pub async fn alert(&self, tbs: &Sha256Hash) -> Alert {
        self.store
            .get_alert(tbs)
            .await
            .expect("get_alert")
            .unwrap_or_else(|| panic!("no alert for {tbs}"))
    }

    pub async fn alerts(&self) -> Vec<Alert> {
        self.store
            .list_alerts(
                &Default::default(),
                &PageRequest {
                    limit: 1000,
                    token: None,
                },
            )
            .await
            .expect("list_alerts")
            .items
    }

    /// SNS messages delivered to the subscribed queue since the last call (waits for
    /// `expected`, then drains whatever else is there).
    pub async fn sns(&self, expected: usize) -> Vec<SnsEnvelope> {
        self.aws
            .receive_sns(&self.probe, expected, Duration::from_secs(5))
            .await
    }

    pub async fn emails(&self) -> Vec<SentEmail> {
        self.aws.sent_emails(&self.email_to).await
    }
}

pub fn d(domain: &str) -> WatchDomain {
    WatchDomain::parse(domain).expect("valid domain")
}

/// The invocation context Lambda passes: a request id and a deadline `time_left` from now.
pub fn context(time_left: Duration) -> Context {
    let mut context = Context::default();
    context.request_id = format!("req-{:016x}", fastrand::u64(..));
    context.invoked_function_arn =
        "arn:aws:lambda:us-east-1:123456789012:function:ctguard-poller".into();
    context.deadline = (SystemTime::now() + time_left)
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    context
}

pub fn scheduled_event() -> CloudWatchEvent {
    serde_json::from_str(SCHEDULED_EVENT).expect("a scheduled event parses")
}

/// One invocation of the real handler, with 60 s left.
pub async fn invoke(poller: &LivePoller) -> RunReport {
    invoke_with(poller, Duration::from_secs(60))
        .await
        .expect("the run succeeds")
}

pub async fn invoke_with(
    poller: &LivePoller,
    time_left: Duration,
) -> Result<RunReport, lambda_runtime::Error> {
    poller::handle(
        poller,
        LambdaEvent::new(scheduled_event(), context(time_left)),
    )
    .await
}

/// The attribute values of an SNS envelope.
pub fn attribute<'a>(envelope: &'a SnsEnvelope, name: &str) -> Option<&'a str> {
    envelope
        .message_attributes
        .get(name)
        .map(|a| a.value.as_str())
}

pub fn body(envelope: &SnsEnvelope) -> serde_json::Value {
    serde_json::from_str(&envelope.message).expect("SNS message body is JSON")
}

pub fn shared<T>(value: T) -> Arc<T> {
    Arc::new(value)
}
