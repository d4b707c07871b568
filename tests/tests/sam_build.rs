//! `sam build` produces `bootstrap` binaries Lambda's `provided.al2023` runtime can run: glibc
//! symbol versions no newer than 2.34 (or a static binary), only shared libraries every AL2023
//! image has, stripped. Builds the release binaries (x86_64) through `infra/sam/build`.

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
fn built_bootstraps_are_stripped_release_binaries() {
    let build = sam::sam_build();
    for path in [&build.poller_bootstrap, &build.api_bootstrap] {
        let out = std::process::Command::new("objdump")
            .arg("-h")
            .arg(path)
            .output()
            .expect("objdump -h (binutils)");
        let sections = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "objdump -h {}", path.display());
        assert!(
            !sections.contains(".symtab") && !sections.contains(".debug_info"),
            "{} still has its symbol table or debug info: the release profile's strip is off",
            path.display()
        );
        assert!(
            sections.contains("elf64-x86-64"),
            "{} is not an x86-64 ELF (the tests build x86_64)",
            path.display()
        );
    }
}
