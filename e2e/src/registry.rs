//! A throwaway OCI registry on a free loopback port (the CNCF distribution registry, Debian's
//! `docker-registry`), and the push that the release workflow runs (`scripts/push.sh`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::Client;

/// How long the registry may take to answer `GET /v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running registry with its storage in a temporary directory; stopped when dropped.
#[derive(Debug)]
pub struct OciRegistry {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl OciRegistry {
    /// Starts `docker-registry` (found through `REGISTRY_BIN`, then `PATH`), or returns `None`
    /// after a loud SKIP (a failure under `REQUIRE_SPIN=1`).
    pub fn start(test: &str) -> Option<Self> {
        let program = crate::require_program("REGISTRY_BIN", "docker-registry", test)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::free_port();
        // No auth, no TLS, loopback only: the shape of a registry a developer runs for a test.
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(program)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("could not start docker-registry");
        let mut registry = Self { child, port, dir };
        registry.wait_until_serving();
        Some(registry)
    }

    fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}:\n{}", self.logs());
            }
            if self
                .client()
                .get("/v2/")
                .send()
                .is_ok_and(|r| r.status == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer within {START_TIMEOUT:?}:\n{}",
            self.logs()
        );
    }

    /// `127.0.0.1:<port>`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// An HTTP client for the registry API.
    pub fn client(&self) -> Client {
        Client::new(self.port)
    }

    /// The digest the registry holds for `repository:reference` (`Docker-Content-Digest`).
    pub fn digest_of(&self, repository: &str, reference: &str) -> Option<String> {
        let response = self
            .client()
            .get(&format!("/v2/{repository}/manifests/{reference}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .ok()?;
        (response.status == 200)
            .then(|| response.header("docker-content-digest").map(str::to_owned))
            .flatten()
    }

    /// What the registry logged, for failure messages.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What `scripts/push.sh` reported.
#[derive(Debug)]
pub struct Pushed {
    /// `component -> IMAGE/component@sha256:…`, from the script's standard output (one
    /// `component=reference` line per component, in spin.toml's order).
    pub references: Vec<(String, String)>,
    /// The `key=value` lines it wrote to `GITHUB_OUTPUT`.
    pub outputs: String,
    /// What it appended to `GITHUB_STEP_SUMMARY`.
    pub summary: String,
}

impl Pushed {
    /// The reference pushed for `component`.
    pub fn reference(&self, component: &str) -> &str {
        self.references
            .iter()
            .find(|(c, _)| c == component)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "scripts/push.sh pushed no {component}: {:?}",
                    self.references
                )
            })
    }

    /// The digest (`sha256:…`) pushed for `component`.
    pub fn digest(&self, component: &str) -> &str {
        let reference = self.reference(component);
        &reference[reference.rfind('@').map_or(0, |i| i + 1)..]
    }

    /// One `key=value` line of what it wrote to `GITHUB_OUTPUT`.
    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Runs `scripts/push.sh --insecure IMAGE TAG...` in the repository, as the release workflow does
/// (minus the login). See [`push_from`].
pub fn push(spin: &Path, image: &str, tags: &[&str]) -> Pushed {
    push_from(&crate::repo_root(), spin, image, tags, false)
}

/// Runs `DIR/scripts/push.sh --insecure [--build] IMAGE TAG...` with GitHub's output files pointed
/// into a temporary directory. Panics with the script's output if it fails.
pub fn push_from(dir: &Path, spin: &Path, image: &str, tags: &[&str], build: bool) -> Pushed {
    let temp = tempfile::tempdir().expect("temp dir");
    let outputs: PathBuf = temp.path().join("github-output");
    let summary: PathBuf = temp.path().join("github-step-summary");
    let mut command = Command::new(dir.join("scripts/push.sh"));
    for (key, value) in crate::scratch::cargo_env() {
        command.env(key, value);
    }
    command.arg("--insecure");
    if build {
        command.arg("--build");
    }
    let output = command
        .arg(image)
        .args(tags)
        .env("SPIN_BIN", spin)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .env_remove("GITHUB_REPOSITORY")
        .current_dir(dir)
        .output()
        .expect("could not run scripts/push.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scripts/push.sh failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Pushed {
        references: stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(c, r)| (c.to_owned(), r.to_owned()))
            .collect(),
        outputs: std::fs::read_to_string(outputs).unwrap_or_default(),
        summary: std::fs::read_to_string(summary).unwrap_or_default(),
    }
}
