//! The Lambda skeleton both functions start with: the AWS SDK configuration and the logs.
//! (Configuration itself is each function's own: it names its variables.)

use std::io::IsTerminal;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Whether this process runs inside AWS Lambda (the runtime sets the function name).
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// JSON lines on stderr in Lambda (CloudWatch Logs Insights parses them; CloudWatch stamps
/// each line, so no time), readable text elsewhere (colours only on a terminal). `RUST_LOG`
/// overrides the default level, `info`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if in_lambda() {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .with_ansi(false)
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// How long an AWS call may take and how often it is tried. Set on purpose: the SDK's
/// defaults have no operation timeout, so one hung call could eat a run's deadline or keep a
/// Function URL caller waiting until the Lambda timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkLimits {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    /// Attempts per call, with the standard (jittered) backoff from `initial_backoff`.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl SdkLimits {
    /// The poller: three attempts absorb throttling and blips; a call gives up within ~10 s
    /// (the run has a deadline and goes on with the next entry).
    pub const POLLER: SdkLimits = SdkLimits {
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(3),
        operation_timeout: Duration::from_secs(10),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
    };
    /// The API: a caller waits on us, so a slow or dead DynamoDB fails fast (503).
    pub const API: SdkLimits = SdkLimits {
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(3),
        operation_timeout: Duration::from_secs(8),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
    };
}

/// Region, credentials and endpoint the usual way (the environment, including
/// `AWS_ENDPOINT_URL` for the emulator, then the Lambda role), with `limits`.
pub async fn sdk_config(limits: SdkLimits) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(limits.max_attempts)
                .with_initial_backoff(limits.initial_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(limits.connect_timeout)
                .operation_attempt_timeout(limits.attempt_timeout)
                .operation_timeout(limits.operation_timeout)
                .build(),
        )
        .load()
        .await
}
