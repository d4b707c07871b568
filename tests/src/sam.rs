//! Support for the SAM tests (`tests/tests/sam_*.rs`): the project-local SAM CLI, the `sam build`
//! output, ELF linkage checks of the built `bootstrap`s, the local Lambda base image, and running
//! `sam local invoke` against servers on loopback.
//!
//! Networking: `sam local invoke` (SAM CLI 1.170) always creates its container on Docker's
//! default bridge; `--docker-network host` only skips connecting it to another network, so
//! 127.0.0.1 inside the container is the container's own loopback (measured: a probe function
//! could not reach a host server on 127.0.0.1, and could reach one on the bridge gateway). The
//! emulator and the fake Cert Spotter stay on 127.0.0.1; a [`Forwarder`] listening on the bridge
//! gateway address (host-local, reachable from containers only through docker0) relays to them
//! for the duration of a test.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// The base image `infra/lambda-image/build` makes (override with `LAMBDA_BASE_IMAGE`).
pub const DEFAULT_BASE_IMAGE: &str = "ctguard/lambda-base:local";
/// The architecture the tests build and run (the only Rust target installed by default).
pub const TEST_ARCH: &str = "x86_64";
/// Highest glibc Lambda's `provided.al2023` runtime offers.
pub const AL2023_GLIBC: GlibcVersion = GlibcVersion(2, 34, 0);
/// Shared libraries every Amazon Linux 2023 image has (glibc's own and libgcc's).
pub const AL2023_BASE_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs a repo script, panicking with its output and `hint` when it fails.
fn run_script(script: &str, args: &[&str], hint: &str) -> Output {
    let path = repo_root().join(script);
    let output = Command::new(&path)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}. {hint}", path.display()));
    assert!(
        output.status.success(),
        "{script} {args:?} failed ({}). {hint}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// Installs (once per process, idempotently) the pinned SAM CLI and cargo-lambda under
/// `.local/` and returns the directory holding `sam`, `cfn-lint`, `cargo-lambda` and `zig`.
pub fn tools_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        run_script(
            "infra/sam/install",
            &[],
            "It installs SAM CLI and cargo-lambda from PyPI into venvs under .local/ \
             (needs python3 with venv and pip access).",
        );
        repo_root().join(".local/bin")
    })
}

/// A command for one of the project-local tools, with them first on PATH.
pub fn tool(name: &str) -> Command {
    let dir = tools_dir();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut command = Command::new(dir.join(name));
    command
        .env(
            "PATH",
            std::env::join_paths(paths).expect("PATH is joinable"),
        )
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(repo_root());
    command
}

/// What `infra/sam/build` produced.
#[derive(Debug, Clone)]
pub struct SamBuild {
    /// `.aws-sam/build/template.yaml`, the template `sam local invoke` runs.
    pub template: PathBuf,
    pub poller_bootstrap: PathBuf,
    pub api_bootstrap: PathBuf,
}

/// Builds both functions (x86_64, cargo's dev profile: these tests exercise the Lambda
/// integration; the release profile is proven on the arm64 build the deploy ships) with `sam
/// build`, once per process. Incremental: cargo rebuilds only what changed; the script holds a
/// lock so parallel test processes wait.
pub fn sam_build() -> &'static SamBuild {
    static BUILD: OnceLock<SamBuild> = OnceLock::new();
    BUILD.get_or_init(|| build_into(TEST_ARCH, "debug", ".aws-sam/build"))
}

/// The arm64 build (the deploy default), into its own directory so it never replaces the
/// x86_64 binaries the other sam tests run. Once per process, incremental like [`sam_build`].
pub fn sam_build_arm64() -> &'static SamBuild {
    static BUILD: OnceLock<SamBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        run_script(
            "infra/arm64/install",
            &[],
            "It adds the rustup target aarch64-unknown-linux-gnu and apt-installs qemu-user and \
             libc6-arm64-cross.",
        );
        build_into("arm64", "release", ARM64_BUILD_DIR)
    })
}

/// Where the arm64 build goes (relative to the repository root).
pub const ARM64_BUILD_DIR: &str = ".aws-sam/build-arm64";

fn build_into(arch: &str, profile: &str, dir: &str) -> SamBuild {
    tools_dir();
    run_script(
        "infra/sam/build",
        &["--arch", arch, "--profile", profile, "--build-dir", dir],
        &format!(
            "See .local/sam-{}.log for the whole `sam build` output.",
            Path::new(dir)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ),
    );
    let build_dir = repo_root().join(dir);
    let built = SamBuild {
        template: build_dir.join("template.yaml"),
        poller_bootstrap: build_dir.join("PollerFunction/bootstrap"),
        api_bootstrap: build_dir.join("ApiFunction/bootstrap"),
    };
    for path in [
        &built.template,
        &built.poller_bootstrap,
        &built.api_bootstrap,
    ] {
        assert!(
            path.is_file(),
            "sam build succeeded but {} is missing",
            path.display()
        );
    }
    built
}

/// ELF `e_machine` values (the ELF spec's registry).
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

/// The `e_machine` of a little-endian 64-bit ELF file, read from its header.
pub fn elf_machine(binary: &Path) -> Result<u16, String> {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(binary)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    match header {
        [0x7f, b'E', b'L', b'F', 2, 1, .., m0, m1] => Ok(u16::from_le_bytes([m0, m1])),
        _ => Err(format!(
            "{} is not a little-endian 64-bit ELF file",
            binary.display()
        )),
    }
}

/// A command running an aarch64 Linux binary on this host under qemu-user, against the aarch64
/// glibc of Debian's libc6-arm64-cross (both installed by `infra/arm64/install`).
pub fn qemu_aarch64(binary: &Path) -> Command {
    let mut command = Command::new("qemu-aarch64");
    command.args(["-L", "/usr/aarch64-linux-gnu"]).arg(binary);
    command
}

/// A glibc symbol version, e.g. `GLIBC_2.34` → `GlibcVersion(2, 34, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32, pub u32);

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GLIBC_{}.{}", self.0, self.1)?;
        if self.2 != 0 {
            write!(f, ".{}", self.2)?;
        }
        Ok(())
    }
}

impl GlibcVersion {
    /// Parses `GLIBC_2.34` / `GLIBC_2.2.5`; anything else (e.g. `GLIBC_PRIVATE`) is `None`.
    pub fn parse(token: &str) -> Option<Self> {
        let numbers = token.strip_prefix("GLIBC_")?;
        let mut parts = numbers.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self(major, minor, patch))
    }
}

/// Every glibc version a binary's dynamic symbols require, from `objdump -T` output
/// (lines like `0000… DF *UND* 0000… (GLIBC_2.34) pthread_create`; older objdump prints the
/// version without parentheses).
pub fn glibc_versions_in_objdump(dynamic_symbols: &str) -> Vec<GlibcVersion> {
    let mut versions: Vec<GlibcVersion> = dynamic_symbols
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(GlibcVersion::parse)
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// The `NEEDED` shared libraries in `objdump -p` output.
pub fn needed_libraries_in_objdump(private_headers: &str) -> Vec<String> {
    private_headers
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("NEEDED"))
                .then(|| words.next().map(str::to_owned))
                .flatten()
        })
        .collect()
}

/// How a binary links: its `NEEDED` libraries and the glibc versions it requires.
#[derive(Debug, Clone)]
pub struct Linkage {
    pub needed: Vec<String>,
    pub glibc: Vec<GlibcVersion>,
    /// No `INTERP`/dynamic section: runs anywhere with a compatible kernel.
    pub is_static: bool,
}

impl Linkage {
    pub fn max_glibc(&self) -> Option<GlibcVersion> {
        self.glibc.iter().max().copied()
    }
}

/// `objdump FLAG BINARY`'s output (binutils).
fn objdump(flag: &str, binary: &Path) -> Result<String, String> {
    let out = Command::new("objdump")
        .arg(flag)
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run objdump (install binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "objdump {flag} {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `objdump -h` of a binary: its file format line and section headers.
pub fn section_headers(binary: &Path) -> Result<String, String> {
    objdump("-h", binary)
}

/// Reads a binary's linkage with binutils' `objdump`.
pub fn linkage(binary: &Path) -> Result<Linkage, String> {
    let headers = objdump("-p", binary)?;
    let is_static = !headers.contains("Dynamic Section:");
    let glibc = if is_static {
        Vec::new()
    } else {
        glibc_versions_in_objdump(&objdump("-T", binary)?)
    };
    Ok(Linkage {
        needed: needed_libraries_in_objdump(&headers),
        glibc,
        is_static,
    })
}

/// Fails the test, saying exactly what is missing, unless a Docker daemon answers.
pub fn require_docker() {
    let hint = "The sam local invoke tests need Docker (SAM runs each function in a container): \
                install docker (the `docker` CLI) and start the daemon (dockerd), and make sure \
                this user may use /var/run/docker.sock.";
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match out {
        Err(e) => panic!("`docker` is not installed or not on PATH ({e}). {hint}"),
        Ok(out) if !out.status.success() => panic!(
            "`docker info` failed: no Docker daemon answers ({}). {hint}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => {}
    }
}

/// Builds (once, idempotently; cached under .local/) the local Lambda-like base image and
/// returns its name.
pub fn base_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_docker();
        run_script(
            "infra/lambda-image/build",
            &[],
            "It builds a Debian bookworm rootfs with debootstrap (root, Debian mirror) and \
             imports it into Docker.",
        );
        std::env::var("LAMBDA_BASE_IMAGE").unwrap_or_else(|_| DEFAULT_BASE_IMAGE.to_owned())
    })
}

/// The address of Docker's default bridge on this host (what a container reaches the host by):
/// the network's gateway, or, where Docker leaves it out (as here), the first address of its
/// subnet (which the daemon gives the bridge interface).
pub fn docker_bridge_gateway() -> IpAddr {
    require_docker();
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}|{{.Subnet}} {{end}}",
        ])
        .output()
        .expect("docker network inspect bridge");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    bridge_gateway_from(&text).unwrap_or_else(|| {
        panic!(
            "Docker's default bridge network has no IPv4 gateway or subnet (`docker network \
             inspect bridge` said {text:?}); sam local invoke containers could not reach the host"
        )
    })
}

/// Parses `GATEWAY|SUBNET ` pairs (either part may be empty); IPv4 only.
fn bridge_gateway_from(text: &str) -> Option<IpAddr> {
    text.split_whitespace().find_map(|pair| {
        let (gateway, subnet) = pair.split_once('|').unwrap_or((pair, ""));
        if let Ok(ip @ IpAddr::V4(_)) = gateway.parse::<IpAddr>() {
            return Some(ip);
        }
        let network: std::net::Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
        Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(network) + 1)))
    })
}

/// Relays TCP connections from `listen_ip:<free port>` to `target` until dropped, counting
/// them (a failed invocation's message says whether the function reached the emulator at all).
pub struct Forwarder {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    accepted: Arc<AtomicUsize>,
    unrelayed: Arc<AtomicUsize>,
}

impl Forwarder {
    pub async fn start(listen_ip: IpAddr, target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind((listen_ip, 0))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {listen_ip}: {e}"));
        let addr = listener.local_addr().expect("listener address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let unrelayed = Arc::new(AtomicUsize::new(0));
        let (count, failed) = (accepted.clone(), unrelayed.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                let failed = failed.clone();
                tokio::spawn(async move {
                    match tokio::net::TcpStream::connect(target).await {
                        Ok(mut outbound) => {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        Self {
            addr,
            task,
            accepted,
            unrelayed,
        }
    }

    /// `http://<addr>`, what a container uses as an endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `connections accepted N, not relayed M` so far.
    pub fn traffic(&self) -> String {
        format!(
            "{}: connections accepted {}, not relayed {}",
            self.addr,
            self.accepted.load(Ordering::Relaxed),
            self.unrelayed.load(Ordering::Relaxed)
        )
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `host:port` of an `http://host:port[/...]` URL.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    authority
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not http://<ip>:<port> ({e})"))
}

/// The `REPORT` line the runtime interface emulator prints after an invocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvokeReport {
    pub duration_ms: f64,
    /// Only on a cold start (always, for `sam local invoke`).
    pub init_duration_ms: Option<f64>,
    pub max_memory_mb: Option<u32>,
}

/// Parses `REPORT RequestId: …\tInit Duration: 0.20 ms\tDuration: 28.59 ms\t…` (tab-separated
/// `Name: value unit` fields).
pub fn parse_report(logs: &str) -> Option<InvokeReport> {
    let line = logs
        .lines()
        .rev()
        .find(|l| l.contains("REPORT RequestId:"))?;
    let field = |name: &str| -> Option<&str> {
        line.split('\t')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name)?.strip_prefix(": "))
            .and_then(|v| v.split_whitespace().next())
    };
    Some(InvokeReport {
        duration_ms: field("Duration").and_then(|v| v.parse().ok())?,
        init_duration_ms: field("Init Duration").and_then(|v| v.parse().ok()),
        max_memory_mb: field("Max Memory Used").and_then(|v| v.parse().ok()),
    })
}

/// The outcome of one `sam local invoke`.
#[derive(Debug)]
pub struct Invocation {
    pub success: bool,
    /// Wall time of the whole `sam local invoke` (container start included).
    pub elapsed: std::time::Duration,
    /// The function's response payload (SAM prints it on stdout).
    pub stdout: String,
    /// SAM's progress and the function's logs, with the REPORT line.
    pub stderr: String,
}

impl Invocation {
    /// The response payload as JSON (panics with both streams when it is not).
    pub fn response(&self) -> Value {
        let text = self.stdout.trim();
        // SAM may print other lines before the payload; the payload is the last line.
        let last = text.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "function response is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn report(&self) -> InvokeReport {
        parse_report(&self.stderr)
            .unwrap_or_else(|| panic!("no REPORT line in the invocation logs:\n{}", self.stderr))
    }
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ctguard-{what}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    pub fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).expect("JSON"))
            .expect("write scratch file");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sam local invoke FUNCTION` on the built template with `event`, overriding the
/// function's environment with `env` (`{"Var": "value"}`; only variables the template declares
/// can be set), in the local base image, without pulling anything.
pub async fn sam_local_invoke(function: &str, event: &Value, env: &Value) -> Invocation {
    sam_local_invoke_as(function, crate::aws::HARNESS_KEY, event, env).await
}

/// [`sam_local_invoke`] with the access key id `key_id` (SAM hands its credentials to the
/// container), e.g. [`crate::aws::TestAws::function_key`] so the emulator's record attributes
/// the function's calls.
pub async fn sam_local_invoke_as(
    function: &str,
    key_id: &str,
    event: &Value,
    env: &Value,
) -> Invocation {
    let build = sam_build();
    let image = base_image();
    let scratch = ScratchDir::new("sam-invoke");
    let event_file = scratch.write_json("event.json", event);
    let env_file = scratch.write_json("env.json", &serde_json::json!({ function: env }));
    let mut command = tool("sam");
    command
        .args(["local", "invoke", function])
        .arg("--template-file")
        .arg(&build.template)
        .arg("--event")
        .arg(&event_file)
        .arg("--env-vars")
        .arg(&env_file)
        .args(["--invoke-image", image, "--skip-pull-image"])
        .args([
            "--parameter-overrides",
            &format!("Architecture={TEST_ARCH}"),
        ])
        .args(["--region", crate::aws::REGION])
        // Fake credentials for the emulator, never the developer's real ones.
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("sam local invoke thread")
        .expect("run sam local invoke");
    drop(scratch);
    Invocation {
        success: output.status.success(),
        elapsed: started.elapsed(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A CloudFormation template as JSON, short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub …`)
/// turned into their long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, `{"Fn::Sub": …}`).
pub fn template_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    yaml_to_json(yaml)
}

fn yaml_to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml_ng::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(tagged.value);
            match name {
                "Ref" | "Condition" => serde_json::json!({ name: inner }),
                "GetAtt" => {
                    let parts = match inner {
                        Value::String(s) => {
                            let (resource, attribute) =
                                s.split_once('.').unwrap_or((s.as_str(), ""));
                            serde_json::json!([resource, attribute])
                        }
                        other => other,
                    };
                    serde_json::json!({ "Fn::GetAtt": parts })
                }
                other => serde_json::json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_are_read_from_both_objdump_styles() {
        let dump = "\
/x/bootstrap:     file format elf64-x86-64

DYNAMIC SYMBOL TABLE:
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.2.5) free
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) pthread_create
0000000000000000      DF *UND*\t0000000000000000  GLIBC_2.28  statx
0000000000000000  w   DF *UND*\t0000000000000000 (GLIBC_PRIVATE) __x
0000000000000000  w   D  *UND*\t0000000000000000  Base        __gmon_start__
";
        let versions = glibc_versions_in_objdump(dump);
        assert_eq!(
            versions,
            vec![
                GlibcVersion(2, 2, 5),
                GlibcVersion(2, 28, 0),
                GlibcVersion(2, 34, 0)
            ]
        );
        assert!(GlibcVersion(2, 35, 0) > AL2023_GLIBC);
        assert!(GlibcVersion(2, 2, 5) < GlibcVersion(2, 17, 0));
        assert_eq!(GlibcVersion::parse("GLIBC_2.3.4.5"), None);
        assert_eq!(GlibcVersion(2, 34, 0).to_string(), "GLIBC_2.34");
    }

    #[test]
    fn needed_libraries_are_read_from_the_dynamic_section() {
        let headers = "\
Dynamic Section:
  NEEDED               libgcc_s.so.1
  NEEDED               libc.so.6
  FLAGS                0x0000000000000008
";
        assert_eq!(
            needed_libraries_in_objdump(headers),
            vec!["libgcc_s.so.1", "libc.so.6"]
        );
    }

    #[test]
    fn report_line_fields_are_parsed() {
        let logs = "START RequestId: a Version: $LATEST\nEND RequestId: a\n\
            REPORT RequestId: a\tInit Duration: 0.20 ms\tDuration: 28.59 ms\t\
            Billed Duration: 29 ms\tMemory Size: 128 MB\tMax Memory Used: 17 MB\t\n";
        let report = parse_report(logs).expect("a REPORT line");
        assert_eq!(report.init_duration_ms, Some(0.20));
        assert_eq!(report.duration_ms, 28.59);
        assert_eq!(report.max_memory_mb, Some(17));
        assert_eq!(parse_report("no report here"), None);
    }

    #[test]
    fn bridge_gateway_comes_from_the_gateway_or_the_subnet() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            bridge_gateway_from("172.17.0.1|172.17.0.0/16 "),
            ip("172.17.0.1")
        );
        assert_eq!(bridge_gateway_from("|172.18.0.0/16 "), ip("172.18.0.1"));
        assert_eq!(
            bridge_gateway_from("|fd00::/64 |10.9.0.0/24 "),
            ip("10.9.0.1")
        );
        assert_eq!(bridge_gateway_from(" \n"), None);
    }

    #[test]
    fn endpoint_urls_give_socket_addresses() {
        assert_eq!(
            socket_addr_of("http://127.0.0.1:5005/"),
            "127.0.0.1:5005".parse().unwrap()
        );
    }
}
