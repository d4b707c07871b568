//! `sam build` produces `bootstrap` binaries Lambda's `provided.al2023` runtime can run: glibc
//! symbol versions no newer than 2.34 (or a static binary), only shared libraries every AL2023
//! image has. Builds the x86_64 binaries the sam tests run (`infra/sam/build --profile debug`:
//! the same cargo-lambda/zig link as a release build); the release profile (stripped) is checked
//! on the arm64 build the deploy ships, in `arm64_qemu.rs`.

use ctguard_tests::sam::{self, AL2023_BASE_LIBRARIES, AL2023_GLIBC};

fn check_runs_on_al2023(name: &str, path: &std::path::Path) {
    let linkage = sam::linkage(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let size = std::fs::metadata(path).expect("bootstrap metadata").len();
    eprintln!(
        "{name}: {size} bytes, static: {}, max glibc: {}, needs {:?}",
        linkage.is_static,
        linkage.max_glibc().map_or("none".into(), |v| v.to_string()),
        linkage.needed
    );
    if !linkage.is_static {
        let max = linkage
            .max_glibc()
            .unwrap_or_else(|| panic!("{name} is dynamic but names no GLIBC version"));
        assert!(
            max <= AL2023_GLIBC,
            "{name} needs {max}, newer than Amazon Linux 2023's glibc 2.34: it would fail to \
             start on Lambda (all versions: {:?})",
            linkage.glibc
        );
    }
    let foreign: Vec<_> = linkage
        .needed
        .iter()
        .filter(|lib| !AL2023_BASE_LIBRARIES.contains(&lib.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "{name} links shared libraries a provided.al2023 function does not have: {foreign:?}"
    );
}

#[test]
fn built_bootstraps_need_at_most_glibc_2_34_and_only_base_libraries() {
    let build = sam::sam_build();
    check_runs_on_al2023("PollerFunction/bootstrap", &build.poller_bootstrap);
    check_runs_on_al2023("ApiFunction/bootstrap", &build.api_bootstrap);
}

#[test]
fn built_bootstraps_are_x86_64_elf_files() {
    let build = sam::sam_build();
    for path in [&build.poller_bootstrap, &build.api_bootstrap] {
        let sections = sam::section_headers(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            sections.contains("elf64-x86-64"),
            "{} is not an x86-64 ELF (the tests build x86_64)",
            path.display()
        );
    }
}
