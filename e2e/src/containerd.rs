//! A SpinApp's pod without the kubelet: a private containerd (v1.7, its own root, state and
//! socket in a temporary directory) running the SpinKube shim `containerd-shim-spin-v2`
//! (runtime `io.containerd.spin.v2`), and what the spin-operator gives each pod, read from the
//! rendered overlay (`kubectl kustomize`, then `deploy/manifest.py pods`).
//!
//! The tools come from `SHIM_TOOLS_DIR` (a folder with `containerd-shim-spin-v2`,
//! `containerd-1.7/containerd`, `containerd-1.7/ctr` and `spin-3.6.3`), else from
//! `../shared/tools/unpack.sh` next to the repository. Without them, or without root, the tests
//! print a loud SKIP, unless `REQUIRE_CONTAINERD=1` (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The runtime a SpinApp's RuntimeClass selects (handler `spin`).
pub const RUNTIME: &str = "io.containerd.spin.v2";

/// Whether a missing containerd/shim is a failure rather than a skip (`REQUIRE_CONTAINERD=1`).
pub fn required() -> bool {
    std::env::var("REQUIRE_CONTAINERD").is_ok_and(|v| v == "1")
}

fn skip(test: &str, why: &str) -> Option<PathBuf> {
    if required() {
        panic!("REQUIRE_CONTAINERD=1 but {why}");
    }
    eprintln!(
        "\n\
         ************************************************************************\n\
         SKIPPED {test}: {why}.\n\
         Set SHIM_TOOLS_DIR (or provide ../shared/tools) and run as root;\n\
         REQUIRE_CONTAINERD=1 makes this a failure.\n\
         ************************************************************************\n"
    );
    None
}

/// The folder holding the shim, containerd 1.7 and spin-3.6.3, or `None` after a loud SKIP.
pub fn tools(test: &str) -> Option<PathBuf> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        return skip(test, "containerd needs root");
    }
    let dir = match std::env::var_os("SHIM_TOOLS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let unpack = crate::repo_root().join("../shared/tools/unpack.sh");
            if !unpack.is_file() {
                return skip(test, "no SHIM_TOOLS_DIR and no ../shared/tools/unpack.sh");
            }
            let output = Command::new(&unpack)
                .output()
                .expect("could not run unpack.sh");
            if !output.status.success() {
                return skip(test, "../shared/tools/unpack.sh failed");
            }
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
    };
    for tool in [
        "containerd-shim-spin-v2",
        "containerd-1.7/containerd",
        "containerd-1.7/ctr",
        "spin-3.6.3",
    ] {
        if !dir.join(tool).is_file() {
            return skip(test, &format!("{} is missing", dir.join(tool).display()));
        }
    }
    Some(dir)
}

/// A private containerd; its tasks and the daemon are stopped when dropped.
#[derive(Debug)]
pub struct Containerd {
    daemon: Child,
    ctr: PathBuf,
    /// Its folder: config, root, state, socket and logs.
    pub dir: tempfile::TempDir,
    tasks: Vec<(String, Child)>,
}

impl Containerd {
    /// Starts containerd from `tools` with the CRI plugin disabled (only `ctr` talks to it).
    pub fn start(tools: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir(d.join("bin")).expect("bin dir");
        // containerd finds a shim by name on its PATH: io.containerd.spin.v2 -> containerd-shim-spin-v2.
        std::os::unix::fs::symlink(
            tools.join("containerd-shim-spin-v2"),
            d.join("bin/containerd-shim-spin-v2"),
        )
        .expect("shim symlink");
        let socket = d.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = socket.display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("containerd config");
        let path = format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let daemon = Command::new(tools.join("containerd-1.7/containerd"))
            .arg("--config")
            .arg(d.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("containerd.log")).expect("log"))
            .spawn()
            .expect("could not start containerd");
        let containerd = Self {
            daemon,
            ctr: tools.join("containerd-1.7/ctr"),
            dir,
            tasks: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() || !containerd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start:\n{}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    /// `ctr -a <socket> ARGS...`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new(&self.ctr)
            .arg("-a")
            .arg(self.dir.path().join("containerd.sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("could not run ctr")
    }

    /// `ctr image pull --plain-http REFERENCE`; panics with ctr's output if it fails.
    pub fn pull(&self, reference: &str) {
        let output = self.ctr(&["image", "pull", "--plain-http", reference]);
        assert!(
            output.status.success(),
            "ctr image pull {reference} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `ctr run --rm --net-host --runtime io.containerd.spin.v2` of `image` as container `name`,
    /// with `env`, and `runtime_config` bind-mounted read-only at `/runtime-config.toml` (the
    /// path the shim reads; the operator mounts the runtime-config Secret there).
    pub fn run(
        &mut self,
        name: &str,
        image: &str,
        env: &[(String, String)],
        runtime_config: &Path,
    ) {
        let mut command = Command::new(&self.ctr);
        command
            .arg("-a")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["run", "--rm", "--net-host", "--runtime", RUNTIME])
            .arg("--mount")
            .arg(format!(
                "type=bind,src={},dst=/runtime-config.toml,options=rbind:ro",
                runtime_config.display()
            ));
        for (key, value) in env {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        let child = command
            .args([image, name, "/"])
            .stdin(Stdio::null())
            .stdout(
                std::fs::File::create(self.dir.path().join(format!("{name}.out"))).expect("log"),
            )
            .stderr(
                std::fs::File::create(self.dir.path().join(format!("{name}.err"))).expect("log"),
            )
            .spawn()
            .expect("could not run ctr run");
        self.tasks.push((name.to_owned(), child));
    }

    /// Whether the `ctr run` of container `name` has exited.
    pub fn exited(&mut self, name: &str) -> bool {
        self.tasks
            .iter_mut()
            .find(|(n, _)| n == name)
            .is_none_or(|(_, child)| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// containerd's log and each container's output: for failure messages.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            let mut paths: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x == "log" || x == "out" || x == "err")
                })
                .collect();
            paths.sort();
            for path in paths {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                // The shim's expected, noisy precompilation lines are left out.
                let kept: Vec<&str> = content
                    .lines()
                    .filter(|l| !l.contains("precompiled layer") && !l.contains("falling back"))
                    .collect();
                let tail = kept.len().saturating_sub(40);
                text.push_str(&format!(
                    "--- {}\n{}\n",
                    path.display(),
                    kept[tail..].join("\n")
                ));
            }
        }
        text
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let mut tasks = std::mem::take(&mut self.tasks);
        for (name, child) in &mut tasks {
            let _ = self.ctr_quiet(&["task", "kill", "-s", "SIGKILL", name]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = self.ctr_quiet(&["task", "delete", "-f", name]);
            let _ = self.ctr_quiet(&["containers", "delete", name]);
        }
        crate::stop_gracefully(&mut self.daemon);
    }
}

impl Containerd {
    fn ctr_quiet(&self, args: &[&str]) -> Option<Output> {
        Command::new(&self.ctr)
            .arg("-a")
            .arg(self.dir.path().join("containerd.sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()
    }
}

/// What the spin-operator gives the pod of each SpinApp of the rendered `overlay`
/// (`deploy/manifest.py pods`): name, components, env (Secret references as
/// `{"secret": NAME, "key": KEY}`), key-value stores, liveness and readiness paths. `None` after
/// a loud SKIP when the project's `.venv` (kubectl, PyYAML) is missing.
pub fn rendered_pods(overlay: &str, test: &str) -> Option<serde_json::Value> {
    let root = crate::repo_root();
    let (kubectl, python) = (
        root.join(".venv/bin/kubectl"),
        root.join(".venv/bin/python"),
    );
    if !kubectl.is_file() || !python.is_file() {
        skip(
            test,
            ".venv/bin/kubectl or .venv/bin/python missing (./scripts/test.sh python)",
        )?;
    }
    let rendered = Command::new(&kubectl)
        .arg("kustomize")
        .arg(root.join("kustomize/overlays").join(overlay))
        .output()
        .expect("kubectl kustomize");
    assert!(
        rendered.status.success(),
        "kubectl kustomize {overlay} failed"
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &rendered.stdout).expect("rendered overlay");
    let pods = Command::new(&python)
        .arg(root.join("deploy/manifest.py"))
        .arg("pods")
        .arg(file.path())
        .output()
        .expect("deploy/manifest.py pods");
    assert!(
        pods.status.success(),
        "deploy/manifest.py pods failed: {}",
        String::from_utf8_lossy(&pods.stderr)
    );
    Some(serde_json::from_slice(&pods.stdout).expect("pods JSON"))
}
