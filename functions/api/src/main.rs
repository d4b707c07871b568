//! The api Lambda: configuration and AWS clients once at start-up, then either the Lambda
//! runtime or (`--listen ADDR`) the local HTTP listener, both serving the same axum router.

use std::process::ExitCode;

use api::cli::{self, Mode};
use api::{App, Config, listener};
use ctguard::runtime::SdkLimits;
use ctguard::store::dynamo::DynamoStore;

#[tokio::main]
async fn main() -> ExitCode {
    let mode = match cli::parse(std::env::args().skip(1)) {
        Ok(Mode::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(mode) => mode,
        Err(e) => {
            eprintln!("api: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    ctguard::runtime::init_tracing();
    let sdk = ctguard::runtime::sdk_config(SdkLimits::API).await;
    let config = match Config::from_env(&aws_sdk_ssm::Client::new(&sdk)).await {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            eprintln!("api: {e}");
            return ExitCode::from(2);
        }
    };

    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables);
    let notifier = api::notify::Notifier::new(&sdk, &config.notify);
    let router = App::new(store, config.api).with_notifier(notifier).router();

    let result = match mode {
        Mode::Listen(addr) => listener::run(router, addr)
            .await
            .map_err(|e| format!("listener on {addr}: {e}")),
        _ => lambda_http::run(router).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "api stopped");
            eprintln!("api: {e}");
            ExitCode::FAILURE
        }
    }
}
