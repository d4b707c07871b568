//! The local stack (`infra/local/run`, `make demo`, `infra/local/inbox`) driven as an operator
//! drives it: each test starts its own demo stack (its own emulator port, API port and state
//! directory, polling every second) from the workspace's debug `api` and `poller` binaries and
//! this package's `ctguard-local`, then stops it the way the test is about.
//!
//! Needs the debug `api` and `poller` binaries next to `ctguard-local` (`cargo nextest run
//! --workspace`, what `make test` runs, builds them) and the moto venv (`make emulator`).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ctguard_tests::sam::repo_root;

/// How long a demo may take to come up (emulator start, tables, API, first poll) on a busy
/// machine; a bound on waiting for an event, never a pause.
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A free port on loopback (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

/// Sends `signal` to a process (`-PGID` for a whole process group) with kill(1).
fn kill(signal: &str, target: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{signal} {target}");
}

/// The emulator's dashboard answers 2xx (curl, as the scripts check it).
fn emulator_answers(port: u16) -> bool {
    Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/moto-api/"))
        .status()
        .is_ok_and(|s| s.success())
}

/// How the stack is started.
enum Launch {
    /// `make demo`, in its own process group, as a terminal runs it (Ctrl-C reaches the group).
    MakeDemo,
    /// `infra/local/run --demo` with SIGINT ignored, as `… &` from a script starts it.
    Background,
}

/// One demo stack and everything it owns; stops it all (and its emulator) when dropped.
struct Demo {
    child: Child,
    dir: PathBuf,
    state: PathBuf,
    output: PathBuf,
    moto_port: u16,
    api_port: u16,
    /// Every argv the stack's curl ran with (one line per call, NUL between arguments).
    curl_calls: PathBuf,
    path: String,
    exit: Option<ExitStatus>,
}

impl Demo {
    fn start(launch: Launch) -> Self {
        let root = repo_root();
        let dir = std::env::temp_dir().join(format!(
            "ctguard-local-stack-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("temp dir");
        let helper = PathBuf::from(env!("CARGO_BIN_EXE_ctguard-local"));
        let debug = helper.parent().expect("target/debug");
        for name in ["api", "poller"] {
            let built = debug.join(name);
            assert!(
                built.is_file(),
                "{} is missing: build the workspace's binaries first (`cargo nextest run \
                 --workspace` or `cargo build --workspace --tests`)",
                built.display()
            );
            std::os::unix::fs::symlink(&built, bin.join(name)).expect("symlink");
        }
        std::os::unix::fs::symlink(&helper, bin.join("ctguard-local")).expect("symlink");

        // A curl that records its arguments, first on PATH for the stack and the commands it
        // prints.
        let real_curl = which("curl");
        let shim = dir.join("shim");
        std::fs::create_dir_all(&shim).expect("shim dir");
        let curl_calls = dir.join("curl-calls");
        std::fs::write(
            shim.join("curl"),
            format!(
                "#!/usr/bin/env bash\nprintf '%s\\0' \"$@\" >>'{}'\nprintf '\\n' >>'{}'\nexec '{}' \"$@\"\n",
                curl_calls.display(),
                curl_calls.display(),
                real_curl.display()
            ),
        )
        .expect("curl shim");
        set_executable(&shim.join("curl"));
        let path = format!(
            "{}:{}",
            shim.display(),
            std::env::var("PATH").unwrap_or_default()
        );

        let state = dir.join("state");
        let output = dir.join("output");
        let log = std::fs::File::create(&output).expect("output file");
        let moto_port = free_port();
        let api_port = free_port();
        let mut command = match launch {
            Launch::MakeDemo => {
                let mut c = Command::new("make");
                c.arg("demo");
                c
            }
            Launch::Background => {
                let mut c = Command::new("bash");
                c.args(["-c", "trap '' INT; exec infra/local/run --demo"]);
                c
            }
        };
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .current_dir(&root)
            .env("PATH", &path)
            .env("CTGUARD_LOCAL_MOTO_PORT", moto_port.to_string())
            .env("CTGUARD_LOCAL_API_PORT", api_port.to_string())
            .env("CTGUARD_LOCAL_STATE", &state)
            .env("CTGUARD_LOCAL_BIN_DIR", &bin)
            .env("CTGUARD_POLL_INTERVAL", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("output file"))
            .stderr(log)
            .spawn()
            .expect("start the demo");
        let mut demo = Self {
            child,
            dir,
            state,
            output,
            moto_port,
            api_port,
            curl_calls,
            path,
            exit: None,
        };
        demo.wait_for_output("poll run ok", START_TIMEOUT);
        demo
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    fn state_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join(name))
            .unwrap_or_else(|e| panic!("{name} in the state directory: {e}"))
    }

    /// Waits until the stack's output contains `needle`; fails if it exits first.
    fn wait_for_output(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output().contains(needle) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                panic!(
                    "the demo exited ({status}) before printing {needle:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} from the demo within {timeout:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the stack's process to exit, failing with its output if it keeps running.
    fn wait_for_exit(&mut self, timeout: Duration, why: &str) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo still runs {timeout:?} after {why}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_emulator(&self) {
        let out = Command::new(repo_root().join("infra/local-aws/stop"))
            .env("CTGUARD_MOTO_PORT", self.moto_port.to_string())
            .output()
            .expect("infra/local-aws/stop");
        assert!(out.status.success(), "{out:?}");
    }

    /// Runs a repository script against this stack's state; returns (success, stdout+stderr).
    fn script(&self, script: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new(repo_root().join(script))
            .args(args)
            .current_dir(repo_root())
            .env("PATH", &self.path)
            .env("CTGUARD_LOCAL_STATE", &self.state)
            .output()
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Every argument the stack's curl was called with.
    fn curl_arguments(&self) -> Vec<String> {
        std::fs::read_to_string(&self.curl_calls)
            .unwrap_or_default()
            .split(['\0', '\n'])
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.exit.is_none() && self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
        self.stop_emulator();
        let _ =
            std::fs::remove_file(repo_root().join(format!(".local/moto-{}.log", self.moto_port)));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The pid of the process whose command line is `api --listen 127.0.0.1:PORT`.
fn api_pid(port: u16) -> u32 {
    let wanted = format!("127.0.0.1:{port}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let mut cmdline = String::new();
            std::fs::File::open(format!("/proc/{pid}/cmdline"))
                .and_then(|mut f| f.read_to_string(&mut cmdline))
                .is_ok()
                && cmdline.split('\0').any(|a| a == "--listen")
                && cmdline.split('\0').any(|a| a == wanted)
        })
        .unwrap_or_else(|| panic!("no `api --listen {wanted}` process"))
}

/// Ctrl-C on `make demo` (SIGINT to its process group, as a terminal sends it) stops the API,
/// the poller loop and the fake, leaves the emulator running with its data, says so, and make
/// reports no error.
#[test]
fn ctrl_c_on_make_demo_keeps_the_emulator_says_so_and_make_reports_no_error() {
    let mut demo = Demo::start(Launch::MakeDemo);
    assert!(
        answers(demo.api_port),
        "the API answers while the demo runs"
    );
    kill("INT", &format!("-{}", demo.child.id()));
    demo.wait_for_exit(STOP_TIMEOUT, "Ctrl-C");

    let output = demo.output();
    assert!(
        !output.contains("make: ***"),
        "make reported an error after a clean stop:\n{output}"
    );
    assert!(
        output.contains("keeps running"),
        "the stop message says the emulator keeps running:\n{output}"
    );
    assert!(
        emulator_answers(demo.moto_port),
        "the emulator must survive Ctrl-C, as the message says:\n{output}"
    );
    assert!(!answers(demo.api_port), "the API is stopped:\n{output}");
    // Its data is still there: the inbox reads the alerts the demo delivered from it.
    let (ok, inbox) = demo.script("infra/local/inbox", &[]);
    assert!(ok, "inbox after the stop:\n{inbox}");
}

/// A run started in the background (SIGINT ignored) whose emulator goes away stops its poller
/// loop and says why, instead of failing a poll run every interval.
#[test]
fn a_background_run_stops_its_poll_loop_when_the_emulator_is_gone() {
    let mut demo = Demo::start(Launch::Background);
    demo.stop_emulator();
    let status = demo.wait_for_exit(STOP_TIMEOUT, "its emulator stopped");
    let output = demo.output();
    assert!(
        !status.success(),
        "a stack that lost its emulator fails: {status}\n{output}"
    );
    assert!(
        output.contains("emulator") && output.contains("stopping the poller loop"),
        "it says the emulator is gone:\n{output}"
    );
    assert!(!answers(demo.api_port), "the API is stopped too:\n{output}");
}

/// The same when its API process dies.
#[test]
fn a_background_run_stops_its_poll_loop_when_the_api_is_gone() {
    let mut demo = Demo::start(Launch::Background);
    kill("KILL", &api_pid(demo.api_port).to_string());
    let status = demo.wait_for_exit(STOP_TIMEOUT, "its API died");
    let output = demo.output();
    assert!(
        !status.success(),
        "a stack that lost its API fails: {status}\n{output}"
    );
    assert!(
        output.contains("the API") && output.contains("stopping the poller loop"),
        "it says the API is gone:\n{output}"
    );
    assert!(
        emulator_answers(demo.moto_port),
        "the emulator keeps running:\n{output}"
    );
}

/// `make inbox` shows the SNS messages and the emails (subject, recipients, text part), keeps
/// them on a second look, and removes them only when asked to consume.
#[test]
fn inbox_shows_sns_messages_and_emails_and_keeps_them_until_consumed() {
    let mut demo = Demo::start(Launch::Background);
    // The first runs delivered the demo's alerts; stop the stack (its loop would add more) and
    // read what the emulator kept.
    demo.wait_for_output("deliveries", START_TIMEOUT);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let (ok, text) = demo.script("infra/local/inbox", &[]);
        assert!(ok, "infra/local/inbox:\n{text}");
        if text.contains("[suspicious]") && text.contains("Subject:") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no suspicious SNS message and email in the inbox:\n{text}\n--- demo\n{}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // SIGTERM to the script alone: it stops its children; the emulator is not one of them.
    kill("TERM", &demo.child.id().to_string());
    demo.wait_for_exit(STOP_TIMEOUT, "SIGTERM");
    let (ok, first) = demo.script("infra/local/inbox", &[]);
    assert!(ok, "{first}");

    assert!(
        first.contains("login.shop.example.com"),
        "the suspicious certificate's name:\n{first}"
    );
    let email = &first[first.find("\nEmail:").expect("an email section")..];
    assert!(
        email.contains("To: ops@ctguard.local"),
        "recipients:\n{first}"
    );
    assert!(
        email.contains("login.shop.example.com")
            && !email.contains("<p")
            && !email.contains("<html"),
        "the email's text part, not its HTML:\n{first}"
    );

    let (ok, second) = demo.script("infra/local/inbox", &[]);
    assert!(ok, "{second}");
    assert_eq!(
        second, first,
        "looking again shows the same: nothing consumed"
    );

    let (ok, consumed) = demo.script("infra/local/inbox", &["--consume"]);
    assert!(ok, "{consumed}");
    // The same messages; only the closing note differs.
    let messages = |text: &str| -> Vec<String> {
        text.lines()
            .take_while(|l| !l.starts_with("(kept") && !l.starts_with("(consumed"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        messages(&consumed),
        messages(&first),
        "--consume shows the same messages"
    );
    let (ok, after) = demo.script("infra/local/inbox", &[]);
    assert!(ok, "{after}");
    assert!(
        after.contains("SNS: 0 message(s)") && after.contains("Email: 0 message(s)"),
        "consumed messages are gone:\n{after}"
    );
}

/// The API's and the poller's logs, written to files, are plain text (no ANSI colour codes).
#[test]
fn log_files_are_plain_text() {
    let demo = Demo::start(Launch::Background);
    for log in ["api.log", "poller.log"] {
        let text = demo.state_file(log);
        assert!(text.contains("INFO"), "{log} has log lines:\n{text}");
        assert!(
            !text.contains('\u{1b}'),
            "{log} contains ANSI escape codes:\n{text}"
        );
    }
}

/// The demo never puts a token on a command line (where `ps` shows it): its own curl calls and
/// the commands it prints read them from files, and those commands work.
#[test]
fn the_demo_keeps_tokens_off_command_lines() {
    let demo = Demo::start(Launch::Background);
    let tokens = [
        demo.state_file("admin-token"),
        demo.state_file("push-token"),
    ];
    let leaked = |what: &str, texts: &[String]| {
        for token in &tokens {
            assert!(!token.trim().is_empty());
            assert!(
                !texts.iter().any(|t| t.contains(token.trim())),
                "a token is on {what}: {texts:?}"
            );
        }
    };
    let calls = demo.curl_arguments();
    assert!(
        calls.iter().any(|a| a.contains("/domains")),
        "the demo's own curl calls were recorded: {calls:?}"
    );
    leaked("the demo's curl command lines", &calls);
    leaked("the demo's output", &[demo.output()]);

    // The printed "read alerts" command, run as printed.
    let output = demo.output();
    let command = output
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("read alerts"))
        .unwrap_or_else(|| panic!("a `read alerts` command:\n{output}"))
        .trim()
        .to_owned();
    let out = Command::new("bash")
        .args(["-c", &format!("{command} -fsS")])
        .current_dir(repo_root())
        .env("PATH", &demo.path)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("alerts JSON");
    assert!(body.is_object(), "{body}");
    leaked(
        "the printed commands' command lines",
        &demo.curl_arguments(),
    );
}
