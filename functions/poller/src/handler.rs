//! The Lambda entry point for EventBridge scheduled events, and the `--once` local run.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::report::RunReport;
use crate::run::{Poller, PollerDeps};

/// Used when the invocation carries no deadline (never in Lambda; defensive).
const FALLBACK_TIME: Duration = Duration::from_secs(60);

/// Handles one scheduled event: one run within the invocation's deadline. Returns the report;
/// a run that could not do its job (store unavailable) is an error, so Lambda counts it and
/// EventBridge retries (runs are idempotent).
pub async fn handle<D: PollerDeps>(
    poller: &Poller<D>,
    event: LambdaEvent<CloudWatchEvent>,
) -> Result<RunReport, Error> {
    let (payload, context) = event.into_parts();
    let deadline = if context.deadline == 0 {
        warn!("invocation has no deadline; allowing {FALLBACK_TIME:?}");
        Instant::now() + FALLBACK_TIME
    } else {
        deadline_instant(context.deadline(), SystemTime::now())
    };
    let run_id = if context.request_id.is_empty() {
        new_run_id()
    } else {
        context.request_id.clone()
    };
    info!(
        %run_id,
        event_id = payload.id.as_deref().unwrap_or(""),
        scheduled_for = %payload.time,
        "scheduled poll run"
    );
    let report = poller.run(run_id, deadline).await;
    log_report(&report);
    if report.failed {
        return Err(format!("poll run failed: {}", report.errors.join("; ")).into());
    }
    Ok(report)
}

/// One run outside Lambda (`poller --once`), limited to `timeout`.
pub async fn run_once<D: PollerDeps>(poller: &Poller<D>, timeout: Duration) -> RunReport {
    let report = poller.run(new_run_id(), Instant::now() + timeout).await;
    log_report(&report);
    report
}

/// The wall-clock deadline as a monotonic instant (the runtime gives epoch milliseconds).
pub fn deadline_instant(deadline: SystemTime, now: SystemTime) -> Instant {
    Instant::now() + deadline.duration_since(now).unwrap_or(Duration::ZERO)
}

pub fn new_run_id() -> String {
    format!("run-{:016x}", fastrand::u64(..))
}

/// Logs the report and prints its EMF record as one stdout line (CloudWatch turns it into
/// metrics; it must not go through the log formatter, which would wrap it).
fn log_report(report: &RunReport) {
    if report.failed {
        error!(report = %serde_json::to_string(report).unwrap_or_default(), "poll run failed");
    } else {
        info!(report = %serde_json::to_string(report).unwrap_or_default(), "poll run finished");
    }
    println!("{}", report.emf());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_in_the_past_means_no_time_left() {
        let now = SystemTime::now();
        let before = Instant::now();
        let deadline = deadline_instant(now - Duration::from_secs(5), now);
        assert!(deadline <= Instant::now() && deadline >= before);
        let later = deadline_instant(now + Duration::from_secs(30), now);
        assert!(later >= before + Duration::from_secs(30));
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(new_run_id(), new_run_id());
    }
}
