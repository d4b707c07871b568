//! The emulator harness itself: what the poller and API tests rely on when they read what SNS
//! and SES received, and when they inject faults through the proxy.

use std::time::Duration;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
use ctguard_tests::aws::TestAws;
use ctguard_tests::fault_proxy::{FaultProxy, Service};

async fn send_email(client: &aws_sdk_sesv2::Client, from: &str, to: &str, subject: &str) {
    let content = |text: &str| Content::builder().data(text).build().unwrap();
    client
        .send_email()
        .from_email_address(from)
        .destination(Destination::builder().to_addresses(to).build())
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(content(subject))
                        .body(Body::builder().text(content("body text")).build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sns_envelope_with_attributes_reaches_the_probe_queue() {
    let aws = TestAws::new().await;
    let probe = aws.sns_probe("alerts").await;
    aws.sns
        .publish()
        .topic_arn(&probe.topic_arn)
        .subject("subject line")
        .message("{\"hello\":1}")
        .message_attributes(
            "severity",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("suspicious")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = aws.receive_sns(&probe, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, "Notification");
    assert_eq!(got[0].topic_arn, probe.topic_arn);
    assert_eq!(got[0].message, "{\"hello\":1}");
    assert_eq!(got[0].subject.as_deref(), Some("subject line"));
    assert_eq!(got[0].message_attributes["severity"].value, "suspicious");
    // Received messages are deleted: nothing arrives twice.
    assert!(aws.receive_sns(&probe, 0, Duration::ZERO).await.is_empty());
}

#[tokio::test]
async fn sent_mail_is_read_per_test_address() {
    let aws = TestAws::new().await;
    let other = TestAws::new().await;
    let (from, to) = (aws.unique_email("ctguard"), aws.unique_email("ops"));
    let other_to = other.unique_email("ops");

    // Unverified sender: rejected, nothing recorded.
    let content = Content::builder().data("x").build().unwrap();
    let rejected = aws
        .sesv2
        .send_email()
        .from_email_address(&from)
        .destination(Destination::builder().to_addresses(&to).build())
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(content.clone())
                        .body(Body::builder().text(content).build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(rejected.is_err());

    aws.verify_email_identity(&from).await;
    send_email(&aws.sesv2, &from, &to, "for this test").await;
    send_email(&aws.sesv2, &from, &other_to, "for the other test").await;

    let mine = aws.sent_emails(&to).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].source, from);
    assert_eq!(mine[0].destinations, vec![to]);
    assert_eq!(mine[0].subject, "for this test");
    assert_eq!(mine[0].body, "body text");
    assert_eq!(other.sent_emails(&other_to).await.len(), 1);
    assert_eq!(aws.sent_emails(&from).await.len(), 2, "by sender");
}

#[tokio::test]
async fn proxy_faults_sns_and_ses_in_their_own_formats() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let config = aws.config_via(proxy.url()).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let ses = aws_sdk_sesv2::Client::new(&config);
    let probe = aws.sns_probe("faults").await;

    // More failures than SDK attempts: the caller sees the service's error code.
    proxy.fail_next(Service::Sns, "Publish", 3);
    let err = sns
        .publish()
        .topic_arn(&probe.topic_arn)
        .message("m")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sns::error::ProvideErrorMetadata::code(&err),
        Some("InternalError")
    );
    assert_eq!(proxy.count(Service::Sns, "Publish"), 3);
    // Then it recovers.
    sns.publish()
        .topic_arn(&probe.topic_arn)
        .message("m")
        .send()
        .await
        .unwrap();
    assert_eq!(
        aws.receive_sns(&probe, 1, Duration::from_secs(5))
            .await
            .len(),
        1
    );

    let from = aws.unique_email("ctguard");
    aws.verify_email_identity(&from).await;
    proxy.throttle_next(Service::SesV2, "SendEmail", 1);
    send_email(&ses, &from, &aws.unique_email("ops"), "after a throttle").await;
    assert_eq!(
        proxy.count(Service::SesV2, "SendEmail"),
        2,
        "throttled, then retried"
    );
    assert_eq!(aws.sent_emails(&from).await.len(), 1);

    proxy.delay_next(Service::Sns, "Publish", Duration::from_millis(50), 1);
    sns.publish()
        .topic_arn(&probe.topic_arn)
        .message("late")
        .send()
        .await
        .unwrap();
    assert_eq!(proxy.pending_faults(), 0);
}

/// The server started by `infra/local-aws/start` does not keep DynamoDB items in its model
/// dump, so reading sent mail stays fast however many tests ran before.
#[tokio::test]
async fn model_dump_does_not_hold_dynamodb_items() {
    let aws = TestAws::new().await;
    let store = aws.store();
    let w = ctguard_tests::store_contract::watch("dump.example");
    ctguard::store::WatchStore::create_watch(&store, &w)
        .await
        .unwrap();
    let data: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", aws.endpoint))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = data["dynamodb"]["Item"].as_array().map_or(0, Vec::len);
    assert_eq!(
        items, 0,
        "start moto with infra/local-aws/start (it tracks only SES/SNS)"
    );
}

/// The wrapper's optional GSI lag (`infra/local-aws/gsi_lag.py`): items written in the last N
/// seconds are hidden from Query on that table's chosen GSI only; base-table reads, other
/// indexes and other tables are unaffected; removing the delay shows them.
#[tokio::test]
async fn gsi_delay_hides_fresh_writes_from_that_index_only() {
    use ctguard::model::Severity;
    use ctguard::store::{AlertFilter, AlertStore, PageRequest};
    use ctguard_tests::gsi_lag::delay_gsi;
    use ctguard_tests::store_contract::{alert, t0};

    let aws = TestAws::new().await;
    let other = TestAws::new().await;
    let (store, other_store) = (aws.store(), other.store());
    let a = alert("lag", Severity::Suspicious, &["example.com"], t0());
    delay_gsi(&aws.endpoint, &aws.tables.alerts, "outbox", 3600.0).await;
    assert!(store.create_alert(&a).await.unwrap());
    assert!(other_store.create_alert(&a).await.unwrap());

    assert!(store.list_undelivered(10).await.unwrap().is_empty());
    assert_eq!(
        store.get_alert(&a.tbs_sha256).await.unwrap().as_ref(),
        Some(&a)
    );
    let listed = store
        .list_alerts(
            &AlertFilter::default(),
            &PageRequest {
                limit: 10,
                token: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "the by-time index does not lag");
    assert_eq!(other_store.list_undelivered(10).await.unwrap().len(), 1);

    delay_gsi(&aws.endpoint, &aws.tables.alerts, "outbox", 0.0).await;
    assert_eq!(store.list_undelivered(10).await.unwrap().len(), 1);
}
