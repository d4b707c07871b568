//! Helper of the local stack (`infra/local/run`): creates on the local AWS emulator what
//! template.yaml defines (the tables, from the template's own table resources), plus the alert
//! topic with an inbox queue and the SES sender; serves the demo Cert Spotter; reads the inbox.
//!
//! ```text
//! ctguard-local setup ENDPOINT PREFIX EMAIL_FROM [--fresh]
//!                                                  prints `export NAME=value` lines; --fresh
//!                                                  drops the tables first (the demo's restart)
//! ctguard-local inbox ENDPOINT QUEUE_URL SENDER READ_FILE [--consume]
//!                                                  prints the SNS messages and the sender's
//!                                                  emails; keeps them unless --consume
//! ctguard-local demo-certspotter DIR               serves sample issuances; writes DIR/url,
//!                                                  DIR/authorized.pem (to push), runs until killed
//! ```

use std::process::ExitCode;

use aws_sdk_sesv2::error::ProvideErrorMetadata;
use ctguard_tests::aws::{create_table, sdk_config, template_tables};
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::fake_certspotter::FakeCertSpotter;
use ctguard_tests::inbox;

const USAGE: &str = "usage: ctguard-local setup ENDPOINT PREFIX EMAIL_FROM [--fresh]\n       \
                     ctguard-local inbox ENDPOINT QUEUE_URL SENDER READ_FILE [--consume]\n       \
                     ctguard-local demo-certspotter DIR";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["setup", endpoint, prefix, email_from] => setup(endpoint, prefix, email_from, false).await,
        ["setup", endpoint, prefix, email_from, "--fresh"] => {
            setup(endpoint, prefix, email_from, true).await
        }
        ["inbox", endpoint, queue_url, sender, read_file] => {
            inbox(endpoint, queue_url, sender, read_file, false).await
        }
        ["inbox", endpoint, queue_url, sender, read_file, "--consume"] => {
            inbox(endpoint, queue_url, sender, read_file, true).await
        }
        ["demo-certspotter", dir] => demo_certspotter(dir).await,
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ctguard-local: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Idempotent: existing tables (unless `fresh`), topic, queue and identity are kept.
async fn setup(endpoint: &str, prefix: &str, email_from: &str, fresh: bool) -> Result<(), String> {
    let config = sdk_config(endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let specs = template_tables();
    let tables = [
        ("WATCHES_TABLE", format!("{prefix}-watches"), &specs.watches),
        (
            "INVENTORY_TABLE",
            format!("{prefix}-inventory"),
            &specs.inventory,
        ),
        ("ALERTS_TABLE", format!("{prefix}-alerts"), &specs.alerts),
    ];
    for (variable, name, spec) in &tables {
        if fresh {
            // Gone already is fine; anything else shows up in DescribeTable below.
            let _ = dynamodb.delete_table().table_name(name).send().await;
        }
        // DescribeTable, not ListTables: the emulator may hold many test tables (paginated).
        match dynamodb.describe_table().table_name(name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                create_table(&dynamodb, name, spec).await;
            }
            Err(e) => {
                return Err(format!(
                    "DescribeTable {name} at {endpoint}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ));
            }
        }
        println!("export {variable}={name}");
    }

    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic_arn = sns
        .create_topic()
        .name(format!("{prefix}-alerts"))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateTopic: {}",
                aws_sdk_sns::error::DisplayErrorContext(e)
            )
        })?
        .topic_arn
        .ok_or("CreateTopic returned no ARN")?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-alerts-inbox"))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateQueue: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?
        .queue_url
        .ok_or("CreateQueue returned no URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetQueueAttributes: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or("the inbox queue has no ARN")?;
    let subscribed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "ListSubscriptionsByTopic: {}",
                aws_sdk_sns::error::DisplayErrorContext(e)
            )
        })?
        .subscriptions
        .unwrap_or_default()
        .iter()
        .any(|s| s.endpoint.as_deref() == Some(queue_arn.as_str()));
    if !subscribed {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .map_err(|e| format!("Subscribe: {}", aws_sdk_sns::error::DisplayErrorContext(e)))?;
    }
    println!("export ALERT_TOPIC_ARN={topic_arn}");
    println!("export CTGUARD_LOCAL_INBOX={queue_url}");

    let ses = aws_sdk_sesv2::Client::new(&config);
    if let Err(e) = ses
        .create_email_identity()
        .email_identity(email_from)
        .send()
        .await
        && e.code() != Some("AlreadyExistsException")
    {
        return Err(format!(
            "CreateEmailIdentity {email_from}: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        ));
    }
    println!("export EMAIL_FROM={email_from}");
    Ok(())
}

/// Prints the SNS messages and emails the stack delivered (see [`ctguard_tests::inbox`]).
async fn inbox(
    endpoint: &str,
    queue_url: &str,
    sender: &str,
    read_file: &str,
    consume: bool,
) -> Result<(), String> {
    let source = inbox::Source {
        endpoint,
        queue_url,
        sender,
        read_file: std::path::Path::new(read_file),
    };
    let found = inbox::read(&source, consume).await?;
    print!("{}", inbox::render(&found, sender, consume));
    Ok(())
}

/// Sample issuances for `shop.example.com`: one the demo pushes as deployed (authorized), one
/// nobody deployed (suspicious), and one more that appears a minute later.
async fn demo_certspotter(dir: &str) -> Result<(), String> {
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let fake = FakeCertSpotter::start().await;
    let ca = TestCa::new("ctguard demo CA");
    let deployed = ca.issue(&LeafSpec::for_names([
        "shop.example.com",
        "www.shop.example.com",
    ]));
    let rogue = ca.issue(&LeafSpec::for_names(["login.shop.example.com"]));
    fake.add_cert_der(&deployed.der);
    fake.add_cert_der(&rogue.der);
    let write = |name: &str, content: &str| {
        std::fs::write(dir.join(name), content).map_err(|e| format!("{name}: {e}"))
    };
    write("authorized.pem", &deployed.pem)?;
    write("url", &fake.url())?;
    println!("demo Cert Spotter at {}", fake.url());
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    let later = ca.issue(&LeafSpec::for_names(["pay.shop.example.com"]));
    fake.add_cert_der(&later.der);
    println!("demo Cert Spotter: a new certificate for pay.shop.example.com was just logged");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}
