//! The poller binary: in Lambda it serves EventBridge scheduled events; elsewhere
//! `poller --once` performs one run with the same configuration and prints the report.

use std::process::ExitCode;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use ctguard::runtime::{self, SdkLimits};
use lambda_runtime::{LambdaEvent, service_fn};
use poller::{Config, app, handler};

const USAGE: &str = "usage: poller [--once]\n\
    In AWS Lambda (AWS_LAMBDA_FUNCTION_NAME set) it serves scheduled events.\n\
    --once   run one poll now with the configuration from the environment, print the report\n\
             as JSON, exit 0 on success and 1 if the run failed.";

#[tokio::main]
async fn main() -> ExitCode {
    let in_lambda = runtime::in_lambda();
    runtime::init_tracing();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let once = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] if in_lambda => false,
        ["--once"] => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let sdk = runtime::sdk_config(SdkLimits::POLLER).await;
    let config = match Config::from_env(&aws_sdk_ssm::Client::new(&sdk)).await {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::from(2);
        }
    };
    let poller = match app::build(&config, &sdk) {
        Ok(poller) => poller,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::from(2);
        }
    };

    if once {
        let report = handler::run_once(&poller, config.run_timeout).await;
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("cannot print the report: {e}"),
        }
        return if report.failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }

    let poller = &poller;
    let result =
        lambda_runtime::run(service_fn(
            move |event: LambdaEvent<CloudWatchEvent>| async move {
                handler::handle(poller, event).await
            },
        ))
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
