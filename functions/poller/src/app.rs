//! Wiring: the production poller (DynamoDB, Cert Spotter, SNS, SES v2) from the configuration
//! and an AWS SDK configuration. Built once per Lambda instance, reused by every invocation.

use std::sync::Arc;

use aws_config::SdkConfig;
use ctguard::certspotter::{CertSpotterClient, ClientConfig, FetchError, RateLimiter};
use ctguard::store::dynamo::{DynamoStore, TableNames};

use crate::config::Config;
use crate::notify::{SesMailer, SnsPublisher};
use crate::run::Poller;

/// The poller as deployed.
pub type LivePoller = Poller<(DynamoStore, CertSpotterClient, SnsPublisher, SesMailer)>;

/// Builds the production poller from `config`, with AWS clients from `sdk`.
pub fn build(config: &Config, sdk: &SdkConfig) -> Result<LivePoller, FetchError> {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        TableNames {
            watches: config.tables.watches.clone(),
            inventory: config.tables.inventory.clone(),
            alerts: config.tables.alerts.clone(),
        },
    );
    let certspotter = CertSpotterClient::new(ClientConfig {
        base_url: config.certspotter.base_url.clone(),
        token: config.certspotter.token.clone(),
        request_timeout: config.certspotter.request_timeout,
        max_retries: config.certspotter.max_retries,
        ..ClientConfig::default()
    })?
    // One pacer for the whole instance: every request of every entry polled at once.
    .with_rate_limiter(Arc::new(RateLimiter::with_interval(
        config.certspotter.request_interval,
        config.certspotter.burst,
    )));
    let publisher = config
        .alert_topic_arn
        .as_ref()
        .map(|arn| SnsPublisher::new(aws_sdk_sns::Client::new(sdk), arn.clone()));
    let mailer = config.email.as_ref().map(|email| {
        SesMailer::new(
            aws_sdk_sesv2::Client::new(sdk),
            email.from.clone(),
            email.to.clone(),
        )
    });
    Ok(Poller::new(
        Arc::new(store),
        certspotter,
        publisher,
        mailer,
        config.run.clone(),
    ))
}
