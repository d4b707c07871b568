//! The core crate (`shared/core`, `ctguard-core`) stays pure: nothing it builds against, directly
//! or through another crate, is the AWS SDK, an HTTP stack, tokio or the Lambda runtime. That is
//! what keeps it fast to build and fuzzable; the adapters live in `ctguard` (`shared/`).
//!
//! Read from `cargo tree` (normal dependencies only: dev-dependencies such as `rcgen` for its
//! own tests are not part of what the core is).

use std::collections::BTreeSet;
use std::process::Command;

use ctguard_tests::sam::repo_root;

/// Crates the core must never depend on, by name or name prefix.
const FORBIDDEN_PREFIXES: &[&str] = &[
    "aws-", "aws_", "lambda", "tokio", "hyper", "reqwest", "axum", "h2", "tower", "hickory",
];

/// Every crate `ctguard-core` depends on (normal dependencies, transitively, on this host), by
/// name. `cargo tree -p` resolves features for the core alone, as a build of the core (or a
/// fuzz target) does; `cargo metadata` would unify them over the whole workspace.
fn core_dependencies() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-p", "ctguard-core", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(repo_root())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "ctguard-core")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_crate_depends_on_no_aws_http_tokio_or_lambda_crate() {
    let deps = core_dependencies();
    assert!(
        deps.contains("x509-parser") && deps.contains("sha2"),
        "the dependency walk found the core's own dependencies: {deps:?}"
    );
    let impure: Vec<&String> = deps
        .iter()
        .filter(|d| FORBIDDEN_PREFIXES.iter().any(|p| d.starts_with(p)))
        .collect();
    assert!(
        impure.is_empty(),
        "ctguard-core must stay pure, but depends on {impure:?} (all {} dependencies: {deps:?})",
        deps.len()
    );
    println!(
        "ctguard-core: {} crates (normal dependencies, transitively)",
        deps.len()
    );
}
