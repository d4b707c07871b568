//! The poller end to end: the real Lambda handler, invoked with a real EventBridge scheduled
//! event and a Lambda context with a deadline, polling the fake Cert Spotter for certificates
//! made by the certificate factory, storing in DynamoDB (emulator), publishing to SNS (read
//! back from a subscribed SQS queue, attributes included) and emailing through SES v2 (read
//! back from the emulator's record of sent mail).

mod poller_support;

use std::time::Duration;

use ctguard::model::{AuthorizedBy, BackfillMode, DeliveryState, Severity};
use ctguard::store::AlertStore;
use ctguard_core::fixtures::authorized_key;
use ctguard_tests::certs::LeafSpec;
use ctguard_tests::fake_certspotter::{Fault, RetryAfter};
use poller::message::{ALERT_SCHEMA, BASELINE_SCHEMA};
use poller::report::StopReason;
use poller_support::*;

#[tokio::test]
async fn new_suspicious_certificate_is_stored_published_and_emailed() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_caught_up, 1);

    // DynamoDB: the alert, delivered on both channels; the cursor moved.
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Suspicious);
    assert_eq!(alert.cert_sha256, cert.cert_sha256);
    assert_eq!(alert.pubkey_sha256, cert.pubkey_sha256);
    assert_eq!(alert.dns_names, ["www.example.com"]);
    assert_eq!(alert.sns.state, DeliveryState::Sent);
    assert_eq!(alert.email.state, DeliveryState::Sent);
    let entry = env.entry("example.com").await;
    assert_eq!(entry.cursor.as_deref(), Some(alert.issuance_id.as_str()));
    assert!(entry.last_success_at.is_some());

    // SNS: one message, with the attributes subscribers filter on.
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "severity"), Some("suspicious"));
    assert_eq!(attribute(&sns[0], "domain"), Some("example.com"));
    assert_eq!(
        attribute(&sns[0], "reasons"),
        Some(r#"["not_in_inventory"]"#)
    );
    assert_eq!(
        sns[0].subject.as_deref().map(|s| s.contains("SUSPICIOUS")),
        Some(true)
    );
    let message = body(&sns[0]);
    assert_eq!(message["schema"], ALERT_SCHEMA);
    assert_eq!(message["reasons"][0]["code"], "not_in_inventory");
    assert_eq!(alert.reasons.len(), 1);
    assert_eq!(message["tbs_sha256"], cert.tbs_sha256.to_hex());
    assert_eq!(message["matched"][0]["entry"], "example.com");
    assert_eq!(message["matched"][0]["names"][0], "www.example.com");
    assert_eq!(
        alert.sns.message_id.as_deref(),
        Some(sns[0].message_id.as_str())
    );

    // SES: one email from the configured sender, naming the certificate.
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].source, env.email_from);
    assert!(emails[0].subject.contains("SUSPICIOUS"));
    assert!(emails[0].body.contains("www.example.com"));
    assert!(emails[0].body.contains("not_in_inventory: neither"));
    assert!(
        emails[0]
            .body
            .contains(&cert.cert_sha256.to_hex().to_uppercase())
    );

    // A second run: nothing new, nothing sent again.
    let report = invoke(&env.poller()).await;
    assert_eq!(report.issuances_seen, 0);
    assert!(env.sns(0).await.is_empty());
    assert_eq!(env.emails().await.len(), 1);
}

#[tokio::test]
async fn certificate_pushed_by_a_load_balancer_is_info_by_tbs() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["www.example.com"]);
    env.push_cert(&cert).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.info, 1);
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.authorized_by, Some(AuthorizedBy::TbsSha256));
    // Info is published (a heartbeat for subscribers) but not emailed by default.
    let sns = env.sns(1).await;
    assert_eq!(attribute(&sns[0], "severity"), Some("info"));
    assert_eq!(
        attribute(&sns[0], "reasons"),
        None,
        "no reasons, no attribute"
    );
    assert_eq!(body(&sns[0])["authorized_by"], "tbs_sha256");
    assert_eq!(body(&sns[0])["reasons"], serde_json::json!([]));
    assert!(env.emails().await.is_empty());
    assert_eq!(alert.email.state, DeliveryState::Skipped);
}

#[tokio::test]
async fn certificate_for_an_authorized_key_is_info_by_key() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (_, cert) = env.log_cert(&["api.example.com"]);
    env.authorize_key(cert.pubkey_sha256).await;

    invoke(&env.poller()).await;
    let alert = env.alert(&cert.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.authorized_by, Some(AuthorizedBy::PubkeySha256));
    assert_eq!(attribute(&env.sns(1).await[0], "severity"), Some("info"));
}

#[tokio::test]
async fn precertificate_and_final_certificate_are_one_alert() {
    let env = Env::new().await;
    env.watch("example.com").await;
    let (precert, final_cert) = env
        .ca
        .issue_pair(&LeafSpec::for_names(["shop.example.com"]));
    let precert_id = ctguard::cert::CertIdentity::from_der(&precert.der).unwrap();
    let final_id = ctguard::cert::CertIdentity::from_der(&final_cert.der).unwrap();
    assert_eq!(precert_id.tbs_sha256, final_id.tbs_sha256);
    assert_ne!(precert_id.cert_sha256, final_id.cert_sha256);
    env.fake
        .add_cert_der_with_tbs(&precert.der, precert_id.tbs_sha256.0);
    env.fake
        .add_cert_der_with_tbs(&final_cert.der, final_id.tbs_sha256.0);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.issuances_seen, 2);
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(env.alerts().await.len(), 1);
    assert_eq!(env.sns(1).await.len(), 1);
}

#[tokio::test]
async fn one_certificate_for_two_entries_is_one_alert_listing_both() {
    let env = Env::new().await;
    env.watch("example.com").await;
    env.watch("example.net").await;
    let (_, cert) = env.log_cert(&["www.example.com", "www.example.net"]);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.issuances_seen, 2, "each entry's query returns it");
    assert_eq!(report.alerts_created.suspicious, 1);
    let alert = env.alert(&cert.tbs_sha256).await;
    let entries: Vec<&str> = alert.matched.iter().map(|m| m.entry.as_str()).collect();
    assert_eq!(entries, ["example.com", "example.net"]);
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "domain"), Some("example.com"));
    let domains: Vec<String> =
        serde_json::from_str(attribute(&sns[0], "domains").unwrap()).unwrap();
    assert_eq!(domains, ["example.com", "example.net"]);
    // Both cursors moved past it.
    for domain in ["example.com", "example.net"] {
        assert_eq!(
            env.entry(domain).await.cursor.as_deref(),
            Some(alert.issuance_id.as_str())
        );
    }
}

#[tokio::test]
async fn pages_across_pages_and_runs_within_the_query_budget() {
    let mut env = Env::new().await;
    env.set("QUERY_BUDGET", "2");
    env.fake.set_page_sizes(&[2]);
    env.watch("example.com").await;
    let certs: Vec<_> = (1..=5)
        .map(|n| env.log_cert(&[&format!("host{n}.example.com")]).1)
        .collect();

    let report = invoke(&env.poller()).await;
    assert!(report.stopped(StopReason::BudgetExhausted));
    assert_eq!(report.queries_used, 2);
    assert_eq!(report.alerts_created.suspicious, 4);
    let fourth = env.alert(&certs[3].tbs_sha256).await;
    assert_eq!(
        env.entry("example.com").await.cursor.as_deref(),
        Some(fourth.issuance_id.as_str())
    );
    assert!(
        env.store
            .get_alert(&certs[4].tbs_sha256)
            .await
            .unwrap()
            .is_none()
    );

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_caught_up, 1);
    assert_eq!(env.alerts().await.len(), 5);
    // `after=` carried the stored cursor between runs.
    let queries = env.fake.queries();
    assert_eq!(queries[2].param("after"), Some(fourth.issuance_id.as_str()));
    let mut published: Vec<String> = env
        .sns(5)
        .await
        .iter()
        .map(|e| body(e)["tbs_sha256"].as_str().unwrap().to_owned())
        .collect();
    published.sort();
    published.dedup();
    assert_eq!(published.len(), 5);
    assert_eq!(env.emails().await.len(), 2, "one email per run");
}

#[tokio::test]
async fn rate_limit_mid_run_keeps_progress_and_pauses_polling() {
    let mut env = Env::new().await;
    env.fake.set_page_sizes(&[1]);
    env.set("RATE_LIMIT_BACKOFF", "10m");
    env.watch("example.com").await;
    env.watch("example.org").await;
    let (_, first) = env.log_cert(&["a.example.com"]);
    env.log_cert(&["b.example.com"]);
    env.log_cert(&["a.example.org"]);
    env.fake.push_fault(Fault::Delay(Duration::ZERO)); // the first query is answered
    env.fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Seconds(3600)),
    });

    let before = chrono::Utc::now();
    let report = invoke(&env.poller()).await;
    assert!(report.stopped(StopReason::RateLimited));
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.entries_skipped, 1, "example.org not reached");
    let entry = env.entry("example.com").await;
    let first_alert = env.alert(&first.tbs_sha256).await;
    assert_eq!(
        entry.cursor.as_deref(),
        Some(first_alert.issuance_id.as_str())
    );
    let until = entry.rate_limited_until.expect("rate limit recorded");
    assert!(until >= before + chrono::Duration::minutes(59));
    assert_eq!(env.sns(1).await.len(), 1, "what was stored is delivered");

    // The next scheduled run respects Retry-After: no query at all.
    let queries = env.fake.queries().len();
    let report = invoke(&env.poller()).await;
    assert!(report.stopped(StopReason::RateLimited));
    assert_eq!(report.queries_used, 0);
    assert_eq!(env.fake.queries().len(), queries);
}

#[tokio::test]
async fn deadline_stops_polling_cleanly() {
    let mut env = Env::new().await;
    env.fake.set_page_sizes(&[1]);
    env.set("CERTSPOTTER_TIMEOUT", "4s");
    env.watch("example.com").await;
    let (_, first) = env.log_cert(&["a.example.com"]);
    env.log_cert(&["b.example.com"]);
    // The first page takes 2.5 s: after it, less than one request timeout is left before the
    // deadline (8 s - 2 s margin), so the next page is not started.
    env.fake
        .push_fault(Fault::Delay(Duration::from_millis(2500)));

    let report = invoke_with(&env.poller(), Duration::from_secs(8))
        .await
        .expect("run succeeds");
    assert!(report.stopped(StopReason::Deadline));
    assert_eq!(report.alerts_created.suspicious, 1);
    let first_alert = env.alert(&first.tbs_sha256).await;
    assert_eq!(
        env.entry("example.com").await.cursor.as_deref(),
        Some(first_alert.issuance_id.as_str())
    );
    assert_eq!(env.fake.queries().len(), 1);

    // With no time left at all, nothing is queried and nothing is recorded.
    let polled_at = env.entry("example.com").await.last_polled_at;
    let report = invoke_with(&env.poller(), Duration::from_secs(1))
        .await
        .expect("run succeeds");
    assert!(report.stopped(StopReason::Deadline));
    assert_eq!(report.entries_skipped, 1);
    assert_eq!(env.fake.queries().len(), 1);
    assert_eq!(env.entry("example.com").await.last_polled_at, polled_at);
}

#[tokio::test]
async fn grace_turns_pending_into_info_when_the_certificate_is_pushed_in_time() {
    let mut env = Env::new().await;
    env.set("GRACE_PERIOD", "30m");
    env.watch("example.com").await;
    // CT sees the precertificate first; the load balancer later pushes the final certificate.
    let (precert, final_cert) = env.ca.issue_pair(&LeafSpec::for_names(["www.example.com"]));
    let precert_id = ctguard::cert::CertIdentity::from_der(&precert.der).unwrap();
    env.fake
        .add_cert_der_with_tbs(&precert.der, precert_id.tbs_sha256.0);

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.pending, 1);
    let alert = env.alert(&precert_id.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Pending);
    assert!(alert.grace_until.is_some());
    assert!(env.sns(0).await.is_empty(), "nothing is sent while pending");

    let final_id = ctguard::cert::CertIdentity::from_der(&final_cert.der).unwrap();
    env.push_cert(&final_id).await;
    let report = invoke(&env.poller()).await;
    assert_eq!(report.pending_resolved.info, 1);
    let alert = env.alert(&precert_id.tbs_sha256).await;
    assert_eq!(alert.severity, Severity::Info);
    assert_eq!(alert.authorized_by, Some(AuthorizedBy::TbsSha256));
    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1);
    assert_eq!(attribute(&sns[0], "severity"), Some("info"));
    assert!(env.emails().await.is_empty());
}

#[tokio::test]
async fn baseline_sends_one_summary_instead_of_one_message_per_certificate() {
    let env = Env::new().await;
    env.watch_new("example.com", BackfillMode::Summary).await;
    let (_, known) = env.log_cert(&["www.example.com"]);
    let (_, stray1) = env.log_cert(&["old.example.com"]);
    let (_, stray2) = env.log_cert(&["test.example.com"]);
    env.push_cert(&known).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.baselines_completed, 1);
    assert!(
        env.entry("example.com")
            .await
            .baseline_completed_at
            .is_some()
    );
    for cert in [&known, &stray1, &stray2] {
        let alert = env.alert(&cert.tbs_sha256).await;
        assert!(alert.baseline);
        assert_eq!(alert.sns.state, DeliveryState::Sent);
    }

    let sns = env.sns(1).await;
    assert_eq!(sns.len(), 1, "one summary");
    let summary = body(&sns[0]);
    assert_eq!(summary["schema"], BASELINE_SCHEMA);
    assert_eq!(summary["domain"], "example.com");
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["authorized"], 1);
    assert_eq!(summary["unauthorized"], 2);
    assert_eq!(attribute(&sns[0], "severity"), Some("suspicious"));
    let listed: Vec<&str> = summary["unauthorized_certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dns_names"][0].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&"old.example.com") && listed.contains(&"test.example.com"));

    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].subject.contains("baseline"));
    assert!(emails[0].body.contains("old.example.com"));

    // From now on: one alert per new certificate.
    let (_, fresh) = env.log_cert(&["new.example.com"]);
    invoke(&env.poller()).await;
    assert!(!env.alert(&fresh.tbs_sha256).await.baseline);
    let sns = env.sns(1).await;
    assert_eq!(body(&sns[0])["schema"], ALERT_SCHEMA);
}

#[tokio::test]
async fn two_runs_at_once_never_duplicate_an_alert_or_a_notification() {
    let mut env = Env::new().await;
    env.fake.set_page_sizes(&[2]);
    env.set("EMAIL_INCLUDE_INFO", "true");
    let domains = ["a.example", "b.example", "c.example"];
    for domain in domains {
        env.watch(domain).await;
    }
    let mut tbs = Vec::new();
    for n in 0..12 {
        let domain = domains[n % 3];
        tbs.push(env.log_cert(&[&format!("h{n}.{domain}")]).1.tbs_sha256);
    }

    // Two Lambda instances, one EventBridge event delivered twice.
    let (first, second) = (env.poller(), env.poller());
    let (r1, r2) = tokio::join!(invoke(&first), invoke(&second));
    assert_eq!(
        r1.alerts_created.suspicious + r2.alerts_created.suspicious,
        12,
        "each alert created by exactly one run"
    );
    // A later run picks up anything a lost compare-and-set left.
    invoke(&env.poller()).await;

    assert_eq!(env.alerts().await.len(), 12);
    let mut published: Vec<String> = env
        .sns(12)
        .await
        .iter()
        .map(|e| body(e)["tbs_sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(published.len(), 12, "each alert published once");
    published.sort();
    published.dedup();
    assert_eq!(published.len(), 12);
    // Every alert is in exactly one email.
    let emails = env.emails().await;
    for hash in &tbs {
        let alert = env.alert(hash).await;
        assert_eq!(alert.email.state, DeliveryState::Sent);
        assert_eq!(alert.email.attempts, 1);
        let upper = alert.cert_sha256.to_hex().to_uppercase();
        let mentions = emails.iter().filter(|e| e.body.contains(&upper)).count();
        assert_eq!(mentions, 1, "alert {hash} emailed {mentions} times");
    }
    for (n, domain) in domains.iter().enumerate() {
        let last = env.alert(&tbs[9 + n]).await;
        assert_eq!(
            env.entry(domain).await.cursor.as_deref(),
            Some(last.issuance_id.as_str())
        );
    }
}

/// Weak keys (`tests/data/weak-keys`, see its README) are a `weak_key` reason on the stored
/// alert, the SNS message and its `reasons` attribute, and the email, whether or not the
/// certificate is in the inventory; ordinary keys are not.
#[tokio::test]
async fn weak_keys_are_a_reason_on_the_alert_the_message_and_the_email() {
    use std::collections::HashMap;

    use ctguard::cert::CertIdentity;
    use ctguard::model::Alert;

    let env = Env::new().await;
    env.watch("weak.example").await;
    let files = [
        "rsa-1024.der",
        "rsa-2048-roca.der",
        "ec-secp256k1.der",
        "rsa-2048.der",
        "ec-p256.der",
    ];
    let mut ids = HashMap::new();
    for file in files {
        let der = std::fs::read(ctguard_tests::data_dir().join("weak-keys").join(file))
            .expect("test certificate");
        env.fake.add_cert_der(&der);
        ids.insert(file, CertIdentity::from_der(&der).expect("parses"));
    }
    // The load balancers deployed the ROCA one and the P-256 one.
    env.push_cert(&ids["rsa-2048-roca.der"]).await;
    env.push_cert(&ids["ec-p256.der"]).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.suspicious, 4);
    assert_eq!(report.alerts_created.info, 1);

    let codes =
        |a: &Alert| -> Vec<&'static str> { a.reasons.iter().map(|r| r.code.as_str()).collect() };
    let alert = |file: &str| env.alert(&ids[file].tbs_sha256);
    let short = alert("rsa-1024.der").await;
    assert_eq!(codes(&short), ["not_in_inventory", "weak_key"]);
    assert_eq!(short.reasons[1].detail, "RSA key of 1024 bits (under 2048)");
    let roca = alert("rsa-2048-roca.der").await;
    assert_eq!(roca.severity, Severity::Suspicious, "pushed, but weak");
    assert_eq!(roca.authorized_by, Some(AuthorizedBy::TbsSha256));
    assert_eq!(codes(&roca), ["weak_key"]);
    assert!(roca.reasons[0].detail.contains("ROCA"));
    assert_eq!(
        codes(&alert("ec-secp256k1.der").await),
        ["not_in_inventory", "weak_key"]
    );
    assert_eq!(codes(&alert("rsa-2048.der").await), ["not_in_inventory"]);
    let fine = alert("ec-p256.der").await;
    assert_eq!(fine.severity, Severity::Info);
    assert!(fine.reasons.is_empty());

    // SNS: the `reasons` attribute a filter policy matches on.
    let sns = env.sns(5).await;
    assert_eq!(sns.len(), 5);
    let by_name: HashMap<String, _> = sns
        .iter()
        .map(|m| (body(m)["dns_names"][0].as_str().unwrap().to_owned(), m))
        .collect();
    let attr = |name: &str, attribute_name: &str| attribute(by_name[name], attribute_name);
    assert_eq!(
        attr("rsa1024.weak.example", "reasons"),
        Some(r#"["not_in_inventory","weak_key"]"#)
    );
    assert_eq!(
        attr("roca.weak.example", "reasons"),
        Some(r#"["weak_key"]"#)
    );
    assert_eq!(attr("roca.weak.example", "severity"), Some("suspicious"));
    assert_eq!(
        attr("k256.weak.example", "reasons"),
        Some(r#"["not_in_inventory","weak_key"]"#)
    );
    assert_eq!(
        attr("rsa2048.weak.example", "reasons"),
        Some(r#"["not_in_inventory"]"#)
    );
    assert_eq!(attr("p256.weak.example", "reasons"), None);
    assert_eq!(
        body(by_name["k256.weak.example"])["reasons"][1]["detail"],
        "EC key on secp256k1 (only P-256, P-384, P-521 are allowed)"
    );

    // Email: one for the run, each weak key with its detail.
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0].body;
    assert!(
        email.contains("weak_key: RSA key of 1024 bits (under 2048)"),
        "{email}"
    );
    assert!(email.contains("weak_key: EC key on secp256k1"));
    assert!(email.contains("ROCA fingerprint (CVE-2017-15361"));
}

/// Issuer policy: an entry's `allowed_issuers` (stored in DynamoDB) against Cert Spotter's
/// `issuer.caa_domains`. An unauthorized certificate from another CA is `unexpected_issuer`
/// (message attribute and email); one from an allowed CA, one for an entry without a policy,
/// and a pushed one from another CA are not.
#[tokio::test]
async fn certificates_from_a_ca_outside_the_issuer_policy_are_unexpected_issuer() {
    use ctguard::cert::CertIdentity;
    use ctguard::store::WatchStore;
    use ctguard_tests::fake_certspotter::FakeIssuance;

    let env = Env::new().await;
    env.watch("policy.example").await;
    env.watch("open.example").await;
    let allowed = ["letsencrypt.org".to_owned()];
    assert!(
        env.store
            .set_allowed_issuers(&d("policy.example"), &allowed)
            .await
            .unwrap()
    );
    let log = |name: &str, caa: &[&str]| {
        let cert = env.ca.issue(&LeafSpec::for_names([name]));
        env.fake.add_issuance(FakeIssuance {
            caa_domains: caa.iter().map(|s| s.to_string()).collect(),
            ..FakeIssuance::from_cert_der(&cert.der)
        });
        CertIdentity::from_der(&cert.der).expect("parses")
    };
    let other_ca = log("www.policy.example", &["other-ca.example"]);
    let allowed_ca = log("api.policy.example", &["letsencrypt.org"]);
    let no_policy = log("www.open.example", &["other-ca.example"]);
    let pushed = log("shop.policy.example", &["other-ca.example"]);
    env.push_cert(&pushed).await;

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.suspicious, 3);
    assert_eq!(report.alerts_created.info, 1);

    let codes = |a: &ctguard::model::Alert| -> Vec<&'static str> {
        a.reasons.iter().map(|r| r.code.as_str()).collect()
    };
    let unexpected = env.alert(&other_ca.tbs_sha256).await;
    assert_eq!(
        codes(&unexpected),
        ["not_in_inventory", "unexpected_issuer"]
    );
    assert_eq!(
        unexpected.reasons[1].detail,
        "issued by ctguard test CA (CAA identifiers other-ca.example); policy.example allows \
         letsencrypt.org"
    );
    assert_eq!(
        codes(&env.alert(&allowed_ca.tbs_sha256).await),
        ["not_in_inventory"]
    );
    assert_eq!(
        codes(&env.alert(&no_policy.tbs_sha256).await),
        ["not_in_inventory"]
    );
    assert!(env.alert(&pushed.tbs_sha256).await.reasons.is_empty());

    let sns = env.sns(4).await;
    let reasons_of = |name: &str| {
        sns.iter()
            .find(|m| body(m)["dns_names"][0] == name)
            .and_then(|m| attribute(m, "reasons"))
    };
    assert_eq!(
        reasons_of("www.policy.example"),
        Some(r#"["not_in_inventory","unexpected_issuer"]"#)
    );
    assert_eq!(
        reasons_of("api.policy.example"),
        Some(r#"["not_in_inventory"]"#)
    );
    assert_eq!(
        reasons_of("www.open.example"),
        Some(r#"["not_in_inventory"]"#)
    );
    assert_eq!(reasons_of("shop.policy.example"), None);
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]
            .body
            .contains("unexpected_issuer: issued by ctguard test CA")
    );
}

/// Key scopes and compromised keys (issue 10 §3), stored in DynamoDB as the API stores them:
/// a key pushed for `shop.keys.example` authorizes a certificate for it and not one that
/// also names `admin.keys.example` (`key_out_of_scope`); a key marked compromised makes its
/// certificates `critical` (`compromised_key`), even one pushed by TBS hash. Read back from
/// the alerts, the SNS message attributes and the email.
#[tokio::test]
async fn keys_are_held_to_their_names_and_compromised_keys_are_critical() {
    use ctguard::model::{Alert, AuthorizedKey, Compromise};
    use ctguard::store::InventoryStore;

    let env = Env::new().await;
    env.watch("keys.example").await;
    let log = |names: &[&str], key_pem: Option<&str>| {
        let cert = env.ca.issue(&LeafSpec {
            key_pem: key_pem.map(str::to_owned),
            ..LeafSpec::for_names(names.iter().copied())
        });
        env.fake.add_cert_der(&cert.der);
        let id = ctguard::cert::CertIdentity::from_der(&cert.der).expect("parses");
        (cert, id)
    };
    let (shop_cert, inside) = log(&["shop.keys.example", "www.shop.keys.example"], None);
    let (_, outside) = log(
        &["shop.keys.example", "admin.keys.example"],
        Some(&shop_cert.key_pem),
    );
    let (_, pushed_compromised) = log(&["api.keys.example"], None);
    let (_, stolen) = log(&["login.keys.example"], None);

    let key = |hash, names: &[&str]| authorized_key(hash, names, "lb:shop", chrono::Utc::now());
    env.store
        .push_key(&key(inside.pubkey_sha256, &["shop.keys.example"]))
        .await
        .expect("push_key");
    env.push_cert(&pushed_compromised).await;
    env.store
        .push_key(&key(
            pushed_compromised.pubkey_sha256,
            &["api.keys.example"],
        ))
        .await
        .expect("push_key");
    for hash in [pushed_compromised.pubkey_sha256, stolen.pubkey_sha256] {
        env.store
            .mark_compromised(&AuthorizedKey {
                compromised: Some(Compromise {
                    at: chrono::Utc::now(),
                    by: "ops".into(),
                    note: Some("HSM export".into()),
                }),
                ..key(hash, &[])
            })
            .await
            .expect("mark_compromised");
    }

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.info, 1);
    assert_eq!(report.alerts_created.suspicious, 1);
    assert_eq!(report.alerts_created.critical, 2);

    let codes =
        |a: &Alert| -> Vec<&'static str> { a.reasons.iter().map(|r| r.code.as_str()).collect() };
    let ok = env.alert(&inside.tbs_sha256).await;
    assert_eq!(ok.severity, Severity::Info);
    assert_eq!(ok.authorized_by, Some(AuthorizedBy::PubkeySha256));
    let out = env.alert(&outside.tbs_sha256).await;
    assert_eq!(out.severity, Severity::Suspicious);
    assert_eq!(out.authorized_by, None);
    assert_eq!(codes(&out), ["not_in_inventory", "key_out_of_scope"]);
    assert_eq!(
        out.reasons[1].detail,
        "the key is authorized only for shop.keys.example; 1 of 2 names lie outside: \
         admin.keys.example"
    );
    let pushed = env.alert(&pushed_compromised.tbs_sha256).await;
    assert_eq!(pushed.severity, Severity::Critical);
    assert_eq!(pushed.authorized_by, Some(AuthorizedBy::TbsSha256));
    assert_eq!(codes(&pushed), ["compromised_key"]);
    assert!(pushed.reasons[0].detail.ends_with("by ops: HSM export"));
    let stolen_alert = env.alert(&stolen.tbs_sha256).await;
    assert_eq!(stolen_alert.severity, Severity::Critical);
    assert_eq!(
        codes(&stolen_alert),
        ["not_in_inventory", "compromised_key"]
    );

    let sns = env.sns(4).await;
    assert_eq!(sns.len(), 4);
    let of = |name: &str| {
        sns.iter()
            .find(|m| body(m)["dns_names"][0] == name)
            .unwrap_or_else(|| panic!("no message for {name}"))
    };
    // Two certificates start with shop.keys.example: tell them apart by their hash.
    let out_msg = sns
        .iter()
        .find(|m| body(m)["tbs_sha256"] == outside.tbs_sha256.to_hex())
        .expect("message for the out-of-scope certificate");
    assert_eq!(attribute(out_msg, "severity"), Some("suspicious"));
    assert_eq!(
        attribute(out_msg, "reasons"),
        Some(r#"["key_out_of_scope","not_in_inventory"]"#)
    );
    assert_eq!(body(out_msg)["reasons"][1]["code"], "key_out_of_scope");
    let api = of("api.keys.example");
    assert_eq!(attribute(api, "severity"), Some("critical"));
    assert_eq!(attribute(api, "reasons"), Some(r#"["compromised_key"]"#));
    assert_eq!(body(api)["authorized_by"], "tbs_sha256");
    assert!(
        api.subject
            .as_deref()
            .is_some_and(|s| s.contains("CRITICAL"))
    );
    let login = of("login.keys.example");
    assert_eq!(attribute(login, "severity"), Some("critical"));
    assert_eq!(
        attribute(login, "reasons"),
        Some(r#"["compromised_key","not_in_inventory"]"#)
    );

    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0].body;
    assert!(
        email.contains("key_out_of_scope: the key is authorized only for shop.keys.example"),
        "{email}"
    );
    assert!(email.contains("compromised_key: the public key was marked compromised"));
    assert!(email.contains("HSM export"));
}

/// CAA at detection time (issue 10 §2) through the real poller, against the loopback DNS
/// responder: a CA that `example` CAA does not name is `caa_violation` (critical at once,
/// despite the grace period: SNS attribute, severity, email); a permitted one, one under a
/// CNAME to a permitting RRset, and one with no CAA up to the TLD stay `not_in_inventory`; a
/// SERVFAIL is `lookup_failed` in the evidence and the email ("CAA NOT CHECKED"), never a pass;
/// a wildcard is held to `issuewild`. The per-run cache: the shared ancestors are asked once.
#[tokio::test]
async fn caa_is_checked_at_detection_time_with_evidence() {
    use ctguard::caa::CaaOutcome;
    use ctguard::cert::CertIdentity;
    use ctguard_tests::dns::{FakeDns, Zone};
    use ctguard_tests::fake_certspotter::FakeIssuance;

    let dns = FakeDns::start().await;
    dns.set("caa.example", Zone::issue(&["letsencrypt.org"]));
    dns.set(
        "wild.caa.example",
        Zone::Caa(vec![
            (0, "issue".into(), "other-ca.example".into()),
            (0, "issuewild".into(), ";".into()),
        ]),
    );
    dns.set(
        "alias.caa.example",
        Zone::Cname("target.cdn.example".into()),
    );
    dns.set(
        "target.cdn.example",
        Zone::issue(&["other-ca.example; accounturi=x"]),
    );
    dns.set("broken.caa.example", Zone::ServFail);
    dns.set("free.example", Zone::NoData);

    let mut env = Env::new().await;
    env.set("CAA_RESOLVER", &dns.addr().to_string());
    env.set("CAA_TIMEOUT", "300ms");
    // A grace period: the CAA violation must not wait for it.
    env.set("GRACE_PERIOD", "30m");
    env.watch("caa.example").await;
    env.watch("free.example").await;
    let log = |name: &str| {
        let cert = env.ca.issue(&LeafSpec::for_names([name]));
        env.fake.add_issuance(FakeIssuance {
            caa_domains: vec!["other-ca.example".to_owned()],
            ..FakeIssuance::from_cert_der(&cert.der)
        });
        CertIdentity::from_der(&cert.der).expect("parses")
    };
    let violation = log("www.caa.example");
    let second = log("api.caa.example");
    let alias = log("alias.caa.example");
    let broken = log("x.broken.caa.example");
    let wild = log("*.wild.caa.example");
    let free = log("www.free.example");

    let report = invoke(&env.poller()).await;
    assert_eq!(report.alerts_created.critical, 3, "{report:?}");
    assert_eq!(report.alerts_created.pending, 3, "{report:?}");
    assert_eq!(report.caa_issuances_checked, 6);
    assert_eq!(report.caa_lookup_failures, 1);

    let outcome = |a: &ctguard::model::Alert| a.caa.as_ref().unwrap().names[0].outcome;
    let a = env.alert(&violation.tbs_sha256).await;
    assert_eq!(a.severity, Severity::Critical);
    let codes: Vec<_> = a.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["not_in_inventory", "caa_violation"]);
    let caa = a.caa.as_ref().unwrap();
    assert_eq!(caa.resolver, dns.addr().to_string());
    assert_eq!(caa.names[0].name, "www.caa.example");
    assert_eq!(caa.names[0].outcome, CaaOutcome::Violation);
    assert_eq!(caa.names[0].relevant_name.as_deref(), Some("caa.example"));
    assert_eq!(caa.names[0].records[0].value, "letsencrypt.org");
    assert!(
        a.reasons[1].detail.contains("checked at detection time"),
        "{}",
        a.reasons[1].detail
    );
    assert_eq!(
        outcome(&env.alert(&second.tbs_sha256).await),
        CaaOutcome::Violation
    );
    let a = env.alert(&alias.tbs_sha256).await;
    assert_eq!(outcome(&a), CaaOutcome::Permitted, "{:?}", a.caa);
    assert_eq!(a.severity, Severity::Pending);
    let a = env.alert(&broken.tbs_sha256).await;
    assert_eq!(outcome(&a), CaaOutcome::LookupFailed);
    assert_eq!(
        a.severity,
        Severity::Pending,
        "a failed lookup is not a violation"
    );
    assert_eq!(
        outcome(&env.alert(&wild.tbs_sha256).await),
        CaaOutcome::Violation,
        "issuewild \";\" forbids wildcards"
    );
    assert_eq!(
        outcome(&env.alert(&free.tbs_sha256).await),
        CaaOutcome::NoCaa
    );
    // The cache: caa.example was asked once for the three names under it.
    assert_eq!(dns.queries("caa.example"), 1);
    assert_eq!(dns.queries("example"), 1);

    // SNS: the critical ones now (pending ones wait for their grace), with the evidence.
    let sns = env.sns(3).await;
    assert_eq!(sns.len(), 3);
    let m = sns
        .iter()
        .find(|m| body(m)["dns_names"][0] == "www.caa.example")
        .expect("published");
    assert_eq!(attribute(m, "severity"), Some("critical"));
    assert_eq!(
        attribute(m, "reasons"),
        Some(r#"["caa_violation","not_in_inventory"]"#)
    );
    let message = body(m);
    assert_eq!(message["caa"]["names"][0]["outcome"], "violation");
    assert_eq!(message["caa"]["resolver"], dns.addr().to_string());
    assert_eq!(message["caa"]["names"][0]["records"][0]["tag"], "issue");
    let emails = env.emails().await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0].body;
    assert!(email.contains("caa_violation: www.caa.example"), "{email}");
    assert!(email.contains("CAA at detection time"), "{email}");
}

/// A resolver that never answers: the lookups are bounded (`CAA_TIMEOUT`, then the run stops
/// asking after a few failures in a row), the alerts say CAA was not checked, and the run
/// still finishes well within its deadline.
#[tokio::test]
async fn a_silent_resolver_costs_a_bounded_time_and_is_never_a_pass() {
    use ctguard::caa::CaaOutcome;
    use ctguard_tests::dns::{FakeDns, Zone};

    let dns = FakeDns::start().await;
    for name in ["slow.example", "example"] {
        dns.set(name, Zone::Silent);
    }
    for i in 0..5 {
        dns.set(&format!("h{i}.slow.example"), Zone::Silent);
    }
    let mut env = Env::new().await;
    env.set("CAA_RESOLVER", &dns.addr().to_string());
    env.set("CAA_TIMEOUT", "200ms");
    env.watch("slow.example").await;
    let names: Vec<String> = (0..5).map(|i| format!("h{i}.slow.example")).collect();
    for n in &names {
        env.log_cert(&[n.as_str()]);
    }
    let started = std::time::Instant::now();
    let report = invoke(&env.poller()).await;
    let took = started.elapsed();
    assert_eq!(report.alerts_created.suspicious, 5);
    assert_eq!(report.caa_lookup_failures, 5);
    // 3 timed-out lookups (200 ms, 400 ms at most each with the outer bound), then none.
    assert!(report.caa_lookups <= 3, "{report:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    for a in env.alerts().await {
        let caa = a.caa.as_ref().expect("checked");
        assert_eq!(caa.names[0].outcome, CaaOutcome::LookupFailed, "{caa:?}");
    }
    let emails = env.emails().await;
    assert!(
        emails[0].body.contains("CAA NOT CHECKED"),
        "{}",
        emails[0].body
    );
}

/// The per-run lookup limit: once `CAA_MAX_LOOKUPS` queries are sent, the remaining names
/// are `lookup_failed` naming the limit (not a pass), and the next run starts afresh.
#[tokio::test]
async fn the_run_lookup_limit_makes_the_rest_lookup_failed() {
    use ctguard::caa::CaaOutcome;
    use ctguard_tests::dns::{FakeDns, Zone};

    let dns = FakeDns::start().await;
    dns.set("cap.example", Zone::issue(&["ctguard.test"]));
    let mut env = Env::new().await;
    env.set("CAA_RESOLVER", &dns.addr().to_string());
    env.set("CAA_MAX_LOOKUPS", "2");
    env.watch("cap.example").await;
    let (_, first) = env.log_cert(&["h0.cap.example"]);
    let report = invoke(&env.poller()).await;
    assert_eq!(report.caa_lookups, 2, "h0.cap.example, then cap.example");
    let (_, second) = env.log_cert(&["h1.cap.example"]);
    let (_, third) = env.log_cert(&["h2.cap.example"]);
    let report = invoke(&env.poller()).await;
    assert_eq!(report.caa_lookups, 2, "a new run, a new limit: {report:?}");
    assert_eq!(report.caa_lookup_failures, 1);
    let outcome = |a: &ctguard::model::Alert| a.caa.as_ref().unwrap().names[0].clone();
    assert_eq!(
        outcome(&env.alert(&first.tbs_sha256).await).outcome,
        CaaOutcome::Permitted
    );
    assert_eq!(
        outcome(&env.alert(&second.tbs_sha256).await).outcome,
        CaaOutcome::Permitted
    );
    let capped = outcome(&env.alert(&third.tbs_sha256).await);
    assert_eq!(capped.outcome, CaaOutcome::LookupFailed);
    assert!(
        capped.detail.contains("CAA_MAX_LOOKUPS"),
        "{}",
        capped.detail
    );
}
