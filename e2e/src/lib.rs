//! The end-to-end harness: the real app on the real Spin runtime.
//!
//! Each test starts its own `spin up` on a free loopback port, with its own temporary working
//! directory (so a developer's `.env` never leaks in) and state directory (so each test has a
//! fresh SQLite key-value store), and speaks plain HTTP/1.1 to it. The [`SpinApp`] guard kills the
//! process when it is dropped, which also happens when a test panics.
//!
//! Spin is found through `SPIN_BIN`, then `PATH`. Without it the tests print a loud SKIP and
//! pass, unless `REQUIRE_SPIN=1` (set by `.ci/run`), where a missing Spin, or a missing
//! `redis-server` for the replica tests, fails them. The test command runs the whole suite once
//! per Spin binary of `SPIN_BINS` (scripts/test.sh), each run naming its Spin version first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]

pub mod cluster;
pub mod deliveries;
pub mod http;
pub mod receiver;
pub mod redis;
pub mod registry;
pub mod scratch;
pub mod signing;
pub mod ticker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use http::{Client, Response};

/// How long `spin up` may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root (the e2e crate lives one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives inside the repository")
        .to_path_buf()
}

/// Whether missing prerequisites are failures (`REQUIRE_SPIN=1`) rather than skips.
pub fn prerequisites_required() -> bool {
    std::env::var("REQUIRE_SPIN").is_ok_and(|v| v == "1")
}

/// Finds an executable: the override variable first, then `PATH`.
pub fn find_program(override_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Returns the program, or `None` after a loud SKIP; panics if prerequisites are required.
pub fn require_program(override_var: &str, name: &str, test: &str) -> Option<PathBuf> {
    match find_program(override_var, name) {
        Some(path) => Some(path),
        None if prerequisites_required() => panic!(
            "REQUIRE_SPIN=1 but `{name}` was not found (set {override_var} or put it on PATH)"
        ),
        None => {
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 SKIPPED {test}: `{name}` not found (set {override_var} or add it to PATH).\n\
                 Set REQUIRE_SPIN=1 to make this a failure.\n\
                 ************************************************************************\n"
            );
            None
        }
    }
}

/// The commit the harness stamps into its builds (`GIT_COMMIT`, as `scripts/dev` and the release
/// workflow do): the checkout's `HEAD`, or `None` outside a git checkout.
pub fn git_commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !commit.is_empty()).then_some(commit)
}

/// Builds every component once per test binary with `spin build` (a no-op when up to date), with
/// the checkout's commit stamped in.
pub fn build_app(spin: &Path) {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let started = Instant::now();
        let version = Command::new(spin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        eprintln!("e2e: on {version} ({})", spin.display());
        eprintln!("e2e: spin build (once per test binary) ...");
        let mut command = Command::new(spin);
        if let Some(commit) = git_commit() {
            command.env("GIT_COMMIT", commit);
        }
        let output = command
            .arg("build")
            .arg("--from")
            .arg(repo_root().join("spin.toml"))
            .current_dir(repo_root())
            .output()
            .map_err(|error| format!("could not run spin build: {error}"))?;
        if output.status.success() {
            eprintln!(
                "e2e: spin build done in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        } else {
            Err(format!(
                "spin build failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; `spin up` binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free loopback port")
}

/// How to start the app.
#[derive(Debug, Clone, Default)]
pub struct SpinOptions {
    /// Application variables, by their spin.toml name (`api_token`), passed as
    /// `SPIN_VARIABLE_<NAME>`.
    pub variables: Vec<(String, String)>,
    /// A runtime config file's contents (e.g. pointing the `default` store at Redis).
    pub runtime_config: Option<String>,
    /// A state directory to reuse (to restart an app over the same store); fresh if `None`.
    pub state_dir: Option<PathBuf>,
    /// Run the app pushed to this registry reference (plain HTTP, e.g. a local registry)
    /// instead of the checkout's `spin.toml`.
    pub registry_reference: Option<String>,
    /// Run only these components (`spin up -c`), as a SpinApp's `components:` makes SpinKube do;
    /// all of them if empty.
    pub components: Vec<String>,
    /// The path that answers 200 once the app serves (default `/healthz`).
    pub liveness_path: Option<String>,
    /// Listen on this loopback port (one [`free_port`] gave), for a test that must configure
    /// the app with its own address; a free one if `None`.
    pub port: Option<u16>,
}

impl SpinOptions {
    /// Sets an application variable.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs only this component (repeatable), as one SpinApp does on SpinKube, and waits for
    /// `liveness_path` instead of `/healthz`.
    pub fn component(mut self, id: &str, liveness_path: &str) -> Self {
        self.components.push(id.to_owned());
        self.liveness_path = Some(liveness_path.to_owned());
        self
    }

    /// Listens on this port (from [`free_port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Runs the app from this registry reference (see [`registry::OciRegistry`]).
    pub fn from_registry(mut self, reference: &str) -> Self {
        self.registry_reference = Some(reference.to_owned());
        self
    }

    /// Uses a runtime config file with these contents.
    pub fn runtime_config(mut self, toml: &str) -> Self {
        self.runtime_config = Some(toml.to_owned());
        self
    }
}

/// A running `spin up`; stopped when dropped.
#[derive(Debug)]
pub struct SpinApp {
    child: Child,
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub base_url: String,
    /// The port it listens on.
    pub port: u16,
    work_dir: tempfile::TempDir,
    state_dir: PathBuf,
}

impl SpinApp {
    /// Starts the app for `test`, or returns `None` (after a loud SKIP) when Spin is missing.
    pub fn start(test: &str, options: SpinOptions) -> Option<Self> {
        let spin = require_program("SPIN_BIN", "spin", test)?;
        build_app(&spin);
        // A port can be taken between our probe and spin's bind; only that is retried.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&spin, &options) {
                Ok(app) => return Some(app),
                Err(error) if error.contains("in use") => last_error = error,
                Err(error) => panic!("spin up did not start: {error}"),
            }
        }
        panic!("spin up did not start: {last_error}");
    }

    fn try_start(spin: &Path, options: &SpinOptions) -> Result<Self, String> {
        let work_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| work_dir.path().join("state"));
        let port = options.port.unwrap_or_else(free_port);
        let listen = format!("127.0.0.1:{port}");

        let mut command = Command::new(spin);
        command.arg("up");
        match &options.registry_reference {
            // Pulled into a cache of this test's own, so nothing from an earlier pull is reused.
            Some(reference) => command
                .arg("--from")
                .arg(reference)
                .arg("--insecure")
                .arg("--cache-dir")
                .arg(work_dir.path().join("registry-cache")),
            None => command.arg("--from").arg(repo_root().join("spin.toml")),
        };
        for component in &options.components {
            command.arg("--component-id").arg(component);
        }
        command
            .arg("--listen")
            .arg(&listen)
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--log-dir")
            .arg(work_dir.path().join("component-logs"))
            .current_dir(work_dir.path())
            .stdin(Stdio::null())
            .stdout(open_log(work_dir.path(), "spin-stdout.log")?)
            .stderr(open_log(work_dir.path(), "spin-stderr.log")?);
        // Hermetic: only the variables this test sets.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(key);
            }
        }
        for (name, value) in &options.variables {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        if let Some(runtime_config) = &options.runtime_config {
            let path = work_dir.path().join("runtime-config.toml");
            std::fs::write(&path, runtime_config).map_err(|e| e.to_string())?;
            command.arg("--runtime-config-file").arg(path);
        }

        let child = command
            .spawn()
            .map_err(|e| format!("could not run spin: {e}"))?;
        let mut app = Self {
            child,
            base_url: format!("http://{listen}"),
            port,
            work_dir,
            state_dir,
        };
        app.wait_until_serving(options.liveness_path.as_deref().unwrap_or("/healthz"))?;
        Ok(app)
    }

    fn wait_until_serving(&mut self, liveness_path: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("spin up exited with {status}:\n{}", self.logs()));
            }
            if let Ok(response) = self.client().get(liveness_path).send() {
                if response.status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{liveness_path} did not answer within {START_TIMEOUT:?}:\n{}",
            self.logs()
        ))
    }

    /// An HTTP client for this app.
    pub fn client(&self) -> Client {
        Client::new(self.port)
    }

    /// The state directory (holds the SQLite key-value store).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// What Spin and the components printed so far: for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["spin-stdout.log", "spin-stderr.log"] {
            let path = self.work_dir.path().join(name);
            text.push_str(&format!("--- {name}\n"));
            text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        text.push_str(&self.component_logs());
        text
    }

    /// Everything the components wrote to stderr (their JSON log lines).
    pub fn component_logs(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.work_dir.path().join("component-logs")) {
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
            }
        }
        text
    }

    /// Stops the app and keeps its state directory (for restart tests).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        stop_gracefully(&mut self.child);
    }
}

/// How long a process gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Stops `child` with SIGTERM, then SIGKILL after [`STOP_GRACE`]. `spin up` runs the app in a
/// child process (`spin trigger http`) that it stops on SIGTERM; SIGKILL would orphan it, still
/// serving and holding its port.
pub fn stop_gracefully(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // `kill` from procps: std has no portable SIGTERM, and this crate forbids unsafe (libc).
    let signalled = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|status| status.success());
    if signalled {
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn open_log(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    std::fs::File::create(dir.join(name)).map_err(|e| e.to_string())
}

/// Starts the app or returns from the test (the SKIP was already printed).
#[macro_export]
macro_rules! start_or_skip {
    ($test:expr, $options:expr) => {
        match $crate::SpinApp::start($test, $options) {
            Some(app) => app,
            None => return,
        }
    };
}
