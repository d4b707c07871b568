//! The local AWS emulator harness used by every integration test (store, poller, API).
//!
//! The emulator is a moto server started by `infra/local-aws/start` (or `make test`) at
//! `CTGUARD_TEST_AWS_ENDPOINT` (default `http://127.0.0.1:5005`). Each [`TestAws`] creates its
//! own uniquely named tables, from the table resources in `template.yaml`, so tests run in
//! parallel against one server without resetting it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use ctguard::store::dynamo::{DynamoStore, TableNames};
use serde::Deserialize;
use serde_yaml_ng::Value;

pub const ENDPOINT_ENV: &str = "CTGUARD_TEST_AWS_ENDPOINT";
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:5005";
pub const REGION: &str = "us-east-1";

/// Attempts per SDK call in tests (the first try and two retries), with a short backoff: a
/// fault injected on the N next requests is seen by the caller only when N ≥ this.
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The emulator endpoint for this test run.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// The Lambda functions' logical ids in template.yaml: a function's code runs in the tests with
/// credentials named after it (see [`TestAws::function_key`]).
pub const POLLER_FUNCTION: &str = "PollerFunction";
pub const API_FUNCTION: &str = "ApiFunction";

/// The access key id of the test harness itself (setup and checks, not any function).
pub const HARNESS_KEY: &str = "testing";

/// SDK configuration for the emulator (or the fault proxy in front of it): fake credentials,
/// us-east-1, and deliberate retry/timeout settings so a dead endpoint fails in seconds.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_as(endpoint, HARNESS_KEY).await
}

/// [`sdk_config`] with the access key id `key_id`, which the emulator records with each call.
pub async fn sdk_config_as(endpoint: &str, key_id: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            key_id,
            "testing",
            None,
            None,
            "ctguard-tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(SDK_MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

/// Fails the test with instructions when nothing listens at the endpoint.
async fn require_emulator(endpoint: &str) {
    let authority = endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let reachable = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(authority.as_str()),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(
        reachable,
        "no AWS emulator answers at {endpoint} ({ENDPOINT_ENV}). Start it with \
         `infra/local-aws/start` (or run the whole suite with `make test`), then re-run."
    );
}

/// One table resource of `template.yaml`, as far as creating it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub attribute_definitions: Vec<AttributeSpec>,
    pub key_schema: Vec<KeySpec>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    pub time_to_live_specification: Option<TtlSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySpec {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeySpec>,
    pub projection: ProjectionSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

/// The three tables' specs in `template.yaml`.
#[derive(Debug, Clone)]
pub struct TemplateTables {
    pub watches: TableSpec,
    pub inventory: TableSpec,
    pub alerts: TableSpec,
}

pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// Replaces CloudFormation short-form tags (`!Ref X`, `!If [..]`) by their plain value so the
/// template parses as data; the table fields we read never use intrinsic functions.
fn untag(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => untag(tagged.value),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(untag).collect()),
        Value::Mapping(map) => {
            Value::Mapping(map.into_iter().map(|(k, v)| (k, untag(v))).collect())
        }
        other => other,
    }
}

/// Parses the table resources from the SAM template (the one place the schemas live).
pub fn parse_template_tables(yaml: &str) -> Result<TemplateTables, String> {
    let doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| format!("template.yaml: {e}"))?;
    let doc = untag(doc);
    let table = |logical_id: &str| -> Result<TableSpec, String> {
        let resource = doc
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .ok_or_else(|| format!("template.yaml has no resource {logical_id}"))?;
        let kind = resource.get("Type").and_then(Value::as_str);
        if kind != Some("AWS::DynamoDB::Table") {
            return Err(format!(
                "{logical_id} is {kind:?}, not AWS::DynamoDB::Table"
            ));
        }
        let properties = resource
            .get("Properties")
            .cloned()
            .ok_or_else(|| format!("{logical_id} has no Properties"))?;
        serde_yaml_ng::from_value(properties).map_err(|e| format!("{logical_id}: {e}"))
    };
    Ok(TemplateTables {
        watches: table("WatchesTable")?,
        inventory: table("InventoryTable")?,
        alerts: table("AlertsTable")?,
    })
}

pub fn template_tables() -> &'static TemplateTables {
    static TABLES: OnceLock<TemplateTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let path = template_path();
        let yaml = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        parse_template_tables(&yaml).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn key_schema(keys: &[KeySpec]) -> Vec<KeySchemaElement> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// Creates one table from its template spec (on-demand, like the template).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&spec.key_schema)));
    for a in &spec.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .expect("attribute definition"),
        );
    }
    for index in &spec.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                index.projection.projection_type.as_str(),
            ))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty())
                    .then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)))
                .projection(projection)
                .build()
                .expect("global secondary index"),
        );
    }
    request.send().await.unwrap_or_else(|e| {
        panic!(
            "CreateTable {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(e)
        )
    });
    if let Some(ttl) = &spec.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .expect("ttl specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "UpdateTimeToLive {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            });
    }
}

/// Creates the three tables named `<prefix>-watches` etc. from `template.yaml`.
pub async fn create_tables(client: &aws_sdk_dynamodb::Client, prefix: &str) -> TableNames {
    let specs = template_tables();
    let names = TableNames {
        watches: format!("{prefix}-watches"),
        inventory: format!("{prefix}-inventory"),
        alerts: format!("{prefix}-alerts"),
    };
    tokio::join!(
        create_table(client, &names.watches, &specs.watches),
        create_table(client, &names.inventory, &specs.inventory),
        create_table(client, &names.alerts, &specs.alerts),
    );
    names
}

/// An SNS topic with an SQS queue subscribed to it (envelope delivery, not raw).
#[derive(Debug, Clone)]
pub struct SnsProbe {
    pub topic_arn: String,
    pub queue_url: String,
}

/// The SNS envelope an SQS subscriber receives.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsEnvelope {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    pub subject: Option<String>,
    pub message: String,
    #[serde(default)]
    pub message_attributes: HashMap<String, SnsAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnsAttribute {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// A message SES accepted, as the emulator recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub id: String,
    pub source: String,
    /// To, Cc and Bcc addresses together.
    pub destinations: Vec<String>,
    pub subject: String,
    /// The HTML body if there is one, else the text body.
    pub body: String,
}

/// A raw (MIME) message SES accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRawEmail {
    pub source: String,
    pub destinations: Vec<String>,
    pub raw_data: String,
}

/// Per-test AWS resources on the emulator.
pub struct TestAws {
    pub endpoint: String,
    /// Unique to this test: prefixes every resource name it creates.
    pub prefix: String,
    pub config: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub tables: TableNames,
}

impl TestAws {
    /// Connects to the emulator and creates this test's tables.
    pub async fn new() -> Self {
        let endpoint = endpoint();
        require_emulator(&endpoint).await;
        let config = sdk_config(&endpoint).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let prefix = format!("ctg{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
        let tables = create_tables(&dynamodb, &prefix).await;
        Self {
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sesv2: aws_sdk_sesv2::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            endpoint,
            prefix,
            config,
            dynamodb,
            tables,
        }
    }

    /// A store on this test's tables.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), self.tables.clone())
    }

    /// The access key id `function` (a logical id in template.yaml) runs with in this test:
    /// `<function>-<prefix>`, so the emulator's call record tells the function and the test.
    pub fn function_key(&self, function: &str) -> String {
        format!("{function}-{}", self.prefix)
    }

    /// SDK configuration with `function`'s credentials ([`TestAws::function_key`]).
    pub async fn function_config(&self, function: &str) -> SdkConfig {
        sdk_config_as(&self.endpoint, &self.function_key(function)).await
    }

    /// [`TestAws::function_config`] through another endpoint (e.g. a fault proxy).
    pub async fn function_config_via(&self, function: &str, endpoint: &str) -> SdkConfig {
        sdk_config_as(endpoint, &self.function_key(function)).await
    }

    /// A store on this test's tables with `function`'s credentials.
    pub async fn function_store(&self, function: &str) -> DynamoStore {
        let client = aws_sdk_dynamodb::Client::new(&self.function_config(function).await);
        DynamoStore::new(client, self.tables.clone())
    }

    /// SDK configuration for another endpoint (e.g. a [`crate::fault_proxy::FaultProxy`]),
    /// with the same credentials, region, retries and timeouts.
    pub async fn config_via(&self, endpoint: &str) -> SdkConfig {
        sdk_config(endpoint).await
    }

    /// A store on this test's tables whose requests go through `endpoint`.
    pub async fn store_via(&self, endpoint: &str) -> DynamoStore {
        let client = aws_sdk_dynamodb::Client::new(&self.config_via(endpoint).await);
        DynamoStore::new(client, self.tables.clone())
    }

    /// `<prefix>-<what>`: a resource name no other test uses.
    pub fn unique(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// An email address no other test uses (`<local>+<prefix>@ctguard.test`).
    pub fn unique_email(&self, local: &str) -> String {
        format!("{local}+{}@ctguard.test", self.prefix)
    }

    /// Creates an SNS topic and an SQS queue subscribed to it (RawMessageDelivery off, so
    /// the SNS envelope with its MessageAttributes arrives).
    pub async fn sns_probe(&self, name: &str) -> SnsProbe {
        let name = self.unique(name);
        let topic_arn = self
            .sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic ARN");
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue URL");
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue ARN");
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("Subscribe");
        SnsProbe {
            topic_arn,
            queue_url,
        }
    }

    /// Receives (and deletes) SNS envelopes from the probe's queue until `expected` arrived or
    /// `wait` passed; returns what arrived, so a test can also assert that nothing more came.
    pub async fn receive_sns(
        &self,
        probe: &SnsProbe,
        expected: usize,
        wait: Duration,
    ) -> Vec<SnsEnvelope> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut received = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&probe.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(if received.len() >= expected { 0 } else { 1 })
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages.unwrap_or_default();
            let got_any = !messages.is_empty();
            for message in messages {
                let body = message.body.clone().unwrap_or_default();
                let envelope: SnsEnvelope = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("SQS body is not an SNS envelope ({e}): {body}"));
                received.push(envelope);
                if let Some(handle) = message.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&probe.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
            let done = received.len() >= expected && !got_any;
            if done || tokio::time::Instant::now() >= deadline {
                return received;
            }
        }
    }

    /// Stores `value` in a new SSM SecureString parameter `/<prefix>/<what>` (default
    /// `aws/ssm` key) and returns its name.
    pub async fn put_secure_string(&self, what: &str, value: &str) -> String {
        let name = format!("/{}/{what}", self.prefix);
        self.ssm
            .put_parameter()
            .name(&name)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .value(value)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PutParameter {name}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                )
            });
        name
    }

    /// Makes `identity` (an address or a domain) a verified SES sender.
    pub async fn verify_email_identity(&self, identity: &str) {
        self.sesv2
            .create_email_identity()
            .email_identity(identity)
            .send()
            .await
            .expect("CreateEmailIdentity");
    }

    async fn ses_data(&self) -> serde_json::Value {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let data: serde_json::Value = reqwest::get(&url)
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /moto-api/data.json")
            .json()
            .await
            .expect("moto data.json is JSON");
        data.get("ses").cloned().unwrap_or_default()
    }

    /// Mail SES accepted whose sender or any recipient is `address` (use a
    /// [`TestAws::unique_email`] so parallel tests never see each other's mail).
    pub async fn sent_emails(&self, address: &str) -> Vec<SentEmail> {
        let ses = self.ses_data().await;
        let messages = ses.get("Message").and_then(|m| m.as_array()).cloned();
        messages
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let text = |k: &str| {
                    m.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                SentEmail {
                    id: text("id"),
                    source: text("source"),
                    destinations: flatten_destinations(m.get("destinations")),
                    subject: text("subject"),
                    body: text("body"),
                }
            })
            .filter(|m| m.source == address || m.destinations.iter().any(|d| d == address))
            .collect()
    }

    /// Raw (MIME) mail SES accepted whose sender or any recipient is `address`.
    pub async fn sent_raw_emails(&self, address: &str) -> Vec<SentRawEmail> {
        let ses = self.ses_data().await;
        let messages = ses.get("RawMessage").and_then(|m| m.as_array()).cloned();
        messages
            .unwrap_or_default()
            .iter()
            .map(|m| SentRawEmail {
                source: m
                    .get("source")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                destinations: flatten_destinations(m.get("destinations")),
                raw_data: m
                    .get("raw_data")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned(),
            })
            .filter(|m| {
                m.source.contains(address)
                    || m.destinations.iter().any(|d| d.contains(address))
                    || m.raw_data.contains(address)
            })
            .collect()
    }
}

/// moto records destinations as `{"ToAddresses": [..], "CcAddresses": [..], ..}` or a list.
fn flatten_destinations(value: Option<&serde_json::Value>) -> Vec<String> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    match value {
        Some(serde_json::Value::Object(map)) => map.values().flat_map(strings).collect(),
        Some(list @ serde_json::Value::Array(_)) => strings(list),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_despite_short_form_tags() {
        let tables = template_tables();
        assert_eq!(tables.watches.key_schema[0].attribute_name, "domain");
        assert_eq!(tables.inventory.key_schema[0].attribute_name, "pk");
        assert_eq!(tables.alerts.key_schema[0].attribute_name, "tbs_sha256");
        let index_names: Vec<_> = tables
            .alerts
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(index_names, ["by-time", "by-severity", "outbox"]);
        assert_eq!(
            tables
                .alerts
                .time_to_live_specification
                .as_ref()
                .unwrap()
                .attribute_name,
            "ttl_epoch"
        );
    }

    #[test]
    fn a_template_without_a_table_is_reported_by_name() {
        let yaml = "Resources:\n  WatchesTable:\n    Type: AWS::SNS::Topic\n";
        let err = parse_template_tables(yaml).unwrap_err();
        assert!(err.contains("WatchesTable"), "{err}");
        let tagged = "Resources:\n  X: !Ref Y\n";
        let err = parse_template_tables(tagged).unwrap_err();
        assert!(err.contains("no resource WatchesTable"), "{err}");
    }
}
