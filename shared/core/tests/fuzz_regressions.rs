//! Replays the committed fuzz corpora on stable: every file of `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/` (inputs that once crashed a target) goes through the harness
//! function that the cargo-fuzz target `<target>` calls, so a fixed crash stays fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ctguard_core::fuzzing;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `harness` on every seed and regression input of `target`; names every input that panics.
fn replay(target: &str, harness: fn(&[u8])) {
    let seeds = files_in(&fuzz_dir().join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seed inputs for {target}");
    let regressions = files_in(&fuzz_dir().join("regressions").join(target));
    let failed: Vec<String> = seeds
        .iter()
        .chain(&regressions)
        .filter(|path| {
            let data = std::fs::read(path).expect("readable corpus file");
            catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} panics on: {failed:#?}");
}

#[test]
fn cert_parse() {
    replay("cert_parse", fuzzing::cert_parse);
}

#[test]
fn tbs_rebuild() {
    replay("tbs_rebuild", fuzzing::tbs_rebuild);
}

#[test]
fn watch_domain() {
    replay("watch_domain", fuzzing::watch_domain);
}

#[test]
fn certspotter_page() {
    replay("certspotter_page", fuzzing::certspotter_page);
}

#[test]
fn page_cursor() {
    replay("page_cursor", fuzzing::page_cursor);
}

#[test]
fn api_body() {
    replay("api_body", fuzzing::api_body);
}

#[test]
fn api_query() {
    replay("api_query", fuzzing::api_query);
}

#[test]
fn api_cursor() {
    replay("api_cursor", fuzzing::api_cursor);
}

#[test]
fn token_scope() {
    replay("token_scope", fuzzing::token_scope);
}
