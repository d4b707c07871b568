//! `POST /alerts/test` (admin): a clearly marked test message through SNS (severity attribute
//! `test`) and SES, read back from the emulator, sent by the real API handler from a real
//! Function URL event. Also `"canary": true` on watch entries.

use api::App;
use api::notify::{Notifier, NotifySettings};
use ctguard_tests::api::event::{Req, send};
use ctguard_tests::api::*;
use ctguard_tests::aws::TestAws;
use serde_json::json;

#[tokio::test]
async fn test_alert_goes_through_sns_and_email() {
    let aws = TestAws::new().await;
    let probe = aws.sns_probe("alerts").await;
    let from = aws.unique_email("ctguard");
    let to = aws.unique_email("ops");
    aws.verify_email_identity(&from).await;
    let notifier = Notifier::new(
        &aws.config,
        &NotifySettings {
            topic_arn: Some(probe.topic_arn.clone()),
            email: Some((from.clone(), vec![to.clone()])),
        },
    );
    let app = InProcess::new(App::new(aws.store(), settings()).with_notifier(notifier));

    // Push callers may not send it.
    let r = send(&app, Req::post("/alerts/test").push()).await;
    assert_eq!(r.status, 403);

    let r = send(&app, Req::post("/alerts/test").admin()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    assert_eq!(answer["sns"]["status"], "sent", "{answer}");
    assert_eq!(answer["email"]["status"], "sent", "{answer}");

    let messages = aws
        .receive_sns(&probe, 1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        message
            .message_attributes
            .get("severity")
            .map(|a| a.value.as_str()),
        Some("test")
    );
    assert!(
        message.subject.as_deref().unwrap_or("").contains("TEST"),
        "{:?}",
        message.subject
    );
    let body: serde_json::Value = serde_json::from_str(&message.message).expect("JSON body");
    assert_eq!(body["schema"], "ctguard.test.v1");
    assert_eq!(body["severity"], "test");
    assert_eq!(answer["sns"]["message_id"], message.message_id.as_str());

    let emails = aws.sent_emails(&to).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].source, from);
    assert!(emails[0].subject.contains("TEST"), "{}", emails[0].subject);
    assert!(
        emails[0].body.contains("not an alert"),
        "{}",
        emails[0].body
    );
}

#[tokio::test]
async fn test_alert_reports_unconfigured_channels_and_failures() {
    let aws = TestAws::new().await;
    // Nothing configured: the answer says so (not a silent success).
    let app = InProcess::new(App::new(aws.store(), settings()));
    let r = send(&app, Req::post("/alerts/test").admin()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["sns"]["status"], "not_configured");
    assert_eq!(r.json()["email"]["status"], "not_configured");

    // A topic that does not exist and an unverified sender: 503 naming each channel's error.
    let notifier = Notifier::new(
        &aws.config,
        &NotifySettings {
            topic_arn: Some("arn:aws:sns:us-east-1:123456789012:no-such-topic".into()),
            email: Some((
                aws.unique_email("unverified"),
                vec![aws.unique_email("ops")],
            )),
        },
    );
    let app = InProcess::new(App::new(aws.store(), settings()).with_notifier(notifier));
    let r = send(&app, Req::post("/alerts/test").admin()).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let error = r.json()["error"].clone();
    assert_eq!(error["code"], "channel_failed", "{error}");
    let message = error["message"].as_str().unwrap_or("");
    assert!(
        message.contains("SNS failed") && message.contains("email failed"),
        "{message}"
    );
}

#[tokio::test]
async fn a_watch_entry_can_be_marked_as_canary() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(aws.store(), settings()));
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "test.certspotter.org", "canary": true})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["canary"], true);
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.org"})),
    )
    .await;
    assert_eq!(r.json()["canary"], false);
    let r = send(&app, Req::get("/domains").admin()).await;
    let items = r.json()["items"].clone();
    assert_eq!(items[1]["value"], "test.certspotter.org");
    assert_eq!(items[1]["canary"], true);
    // Not a boolean: a clear 400.
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "example.net", "canary": "yes"})),
    )
    .await;
    assert_eq!(r.status, 400);
}
