//! The binary outside Lambda: `poller --once` with a bad environment fails before doing
//! anything, naming every offending variable; unknown arguments print the usage.

use std::process::Command;

fn poller() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_poller"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn once_with_a_bad_environment_names_every_problem_and_exits_2() {
    let output = poller()
        .arg("--once")
        .env("WATCHES_TABLE", "w")
        .env("QUERY_BUDGET", "lots")
        .env("EMAIL_FROM", "ct@example.com")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let log = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "INVENTORY_TABLE",
        "ALERTS_TABLE",
        "QUERY_BUDGET",
        "EMAIL_TO",
    ] {
        assert!(log.contains(variable), "{variable} not named in: {log}");
    }
    assert!(
        output.stdout.is_empty(),
        "no report for a run that never started"
    );
}

#[test]
fn unknown_arguments_print_the_usage() {
    let output = poller().arg("--twice").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: poller [--once]"));
}

#[test]
fn outside_lambda_without_once_prints_the_usage() {
    let output = poller().output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--once"));
}
