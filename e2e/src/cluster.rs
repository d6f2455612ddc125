//! A real single-node Kubernetes for the tests: `cluster.sh` of the provided tools
//! (`../shared/tools/kubernetes/`, or `SHARED_TOOLS_DIR/kubernetes/`) starts etcd, the API server,
//! controller-manager, scheduler, spin-operator v0.6.1 with its admission webhooks, containerd 1.7
//! with the SpinKube shim v0.24.0, a kubelet and a local OCI registry (127.0.0.1:5000), in a
//! temporary directory, in about 10 s. The cluster has no kube-proxy (Services are reached through
//! `kubectl port-forward`), no DNS, no ingress controller, no KEDA, no metrics-server and no runc.
//! Pods live on a bridge inside this machine (node address [`NODE_IP`], pods 10.88.0.0/16, no
//! route off the machine), so what a test serves on [`NODE_IP`] plays a service outside the
//! cluster that the pods reach (a managed Redis, a forwarding destination).
//!
//! The cluster is stopped (`cluster.sh stop`: pods drained, every process ended) when the
//! [`Cluster`] is dropped, which also happens when the test panics. Without root or the tools the
//! test prints a loud SKIP, unless `REQUIRE_CLUSTER=1` (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The node's address on the pod bridge: where pods reach this machine.
pub const NODE_IP: &str = "10.88.0.1";

/// Whether a missing cluster is a failure rather than a skip (`REQUIRE_CLUSTER=1`).
pub fn required() -> bool {
    std::env::var("REQUIRE_CLUSTER").is_ok_and(|v| v == "1")
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    assert!(!required(), "REQUIRE_CLUSTER=1 but {why}");
    eprintln!(
        "\n\
         ************************************************************************\n\
         SKIPPED {test}: {why}.\n\
         Run as root with the provided tools (../shared/tools, or SHARED_TOOLS_DIR);\n\
         REQUIRE_CLUSTER=1 makes this a failure.\n\
         ************************************************************************\n"
    );
    None
}

/// The provided tools: `SHARED_TOOLS_DIR`, else `../shared/tools` next to the repository.
pub fn shared_tools() -> PathBuf {
    std::env::var_os("SHARED_TOOLS_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| crate::repo_root().join("../shared/tools"), PathBuf::from)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A running cluster; stopped when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    script: PathBuf,
    /// The folder of the unpacked tools (`spin-3.6.3`, `kubernetes/kubectl`, ...).
    pub tools: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The local registry's `host:port`, which the node pulls from.
    pub registry: String,
}

impl Cluster {
    /// Starts the cluster, or returns `None` after a loud SKIP.
    pub fn start(test: &str) -> Option<Self> {
        if !is_root() {
            return skip(test, "the cluster needs root");
        }
        let shared = shared_tools();
        let script = shared.join("kubernetes/cluster.sh");
        let unpack = shared.join("unpack.sh");
        if !script.is_file() || !unpack.is_file() {
            return skip(
                test,
                &format!("{} or {} is missing", script.display(), unpack.display()),
            );
        }
        let unpacked = Command::new(&unpack).output().expect("run unpack.sh");
        assert!(unpacked.status.success(), "unpack.sh failed");
        let tools = PathBuf::from(String::from_utf8_lossy(&unpacked.stdout).trim());
        for tool in [
            "kubernetes/kubectl",
            "spin-3.6.3",
            "containerd-shim-spin-v2",
        ] {
            if !tools.join(tool).is_file() {
                return skip(test, &format!("{} is missing", tools.join(tool).display()));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("webhook-inbox-cluster")
            .tempdir()
            .expect("temp dir");
        let started = Instant::now();
        eprintln!("cluster: starting ({} start)", script.display());
        let output = Command::new(&script)
            .arg("start")
            .arg(&tools)
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run cluster.sh start");
        let mut cluster = Self {
            kubeconfig: dir.path().join("admin.kubeconfig"),
            registry: "127.0.0.1:5000".to_owned(),
            dir,
            script,
            tools,
        };
        assert!(
            output.status.success(),
            "cluster.sh start failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            cluster.logs()
        );
        let env = cluster.env();
        let registry = env
            .lines()
            .find_map(|l| l.strip_prefix("export CLUSTER_REGISTRY="))
            .map(|r| r.trim_matches(['"', '\'']).to_owned());
        if let Some(registry) = registry {
            cluster.registry = registry;
        }
        cluster.wait("the node to be Ready", Duration::from_secs(60), || {
            cluster
                .try_kubectl(&[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                ])
                .is_some_and(|s| s.trim() == "True")
        });
        eprintln!("cluster: up in {:?}", started.elapsed());
        Some(cluster)
    }

    fn env(&self) -> String {
        let output = Command::new(&self.script)
            .arg("env")
            .arg(self.dir.path())
            .output()
            .expect("run cluster.sh env");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The folder of the cluster's tools (kubectl first on `PATH` for scripts).
    pub fn bin_dir(&self) -> PathBuf {
        self.tools.join("kubernetes")
    }

    /// `kubectl` against this cluster.
    pub fn kubectl_command(&self) -> Command {
        let mut command = Command::new(self.bin_dir().join("kubectl"));
        command.env("KUBECONFIG", &self.kubeconfig);
        command.stdin(Stdio::null());
        command
    }

    /// `PATH` with this cluster's kubectl first, for the project's scripts.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin_dir()];
        if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(paths).expect("PATH")
    }

    /// Runs kubectl; its standard output, or `None` when it failed.
    pub fn try_kubectl(&self, args: &[&str]) -> Option<String> {
        let output = self.kubectl_command().args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs kubectl and panics, with the cluster's diagnostics, when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = self.kubectl_command().args(args).output().expect("kubectl");
        self.expect_success(&format!("kubectl {}", args.join(" ")), &output);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs kubectl and parses its JSON output.
    pub fn kubectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl(&all)).expect("kubectl JSON")
    }

    /// Panics with `what`, its output and the cluster's diagnostics unless it succeeded.
    pub fn expect_success(&self, what: &str, output: &Output) {
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.diagnostics()
        );
    }

    /// Polls `done` every 200 ms until it holds, or panics after `timeout` with the diagnostics.
    pub fn wait(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {what}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        started.elapsed()
    }

    /// Pods, events and the tail of the control plane's logs: what a failure message needs.
    pub fn diagnostics(&self) -> String {
        let pods = self
            .try_kubectl(&["get", "pods", "-A", "-o", "wide"])
            .unwrap_or_default();
        let events = self
            .try_kubectl(&["get", "events", "-A", "--sort-by=.lastTimestamp"])
            .unwrap_or_default();
        let events: Vec<&str> = events.lines().rev().take(40).collect();
        format!(
            "--- pods\n{pods}\n--- last events\n{}\n{}",
            events.into_iter().rev().collect::<Vec<_>>().join("\n"),
            self.logs()
        )
    }

    /// The last lines of each log of the cluster's processes.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) else {
            return out;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines.get(lines.len().saturating_sub(15)..).unwrap_or(&[]);
            out.push_str(&format!(
                "--- {} (last {} lines)\n{}\n",
                entry.file_name().to_string_lossy(),
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }

    /// `kubectl port-forward` to `target` (`service/NAME`) port 80 in `namespace`, on a free
    /// loopback port; stopped when dropped.
    pub fn port_forward(&self, namespace: &str, target: &str) -> PortForward {
        let port = crate::free_port();
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let child = self
            .kubectl_command()
            .args(["-n", namespace, "port-forward", "--address", "127.0.0.1"])
            .arg(target)
            .arg(format!("{port}:80"))
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("kubectl port-forward");
        let forward = PortForward {
            child,
            port,
            _log: log,
        };
        self.wait(
            &format!("kubectl port-forward {target}"),
            Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        forward
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let output = Command::new(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(o) if o.status.success() => eprintln!("cluster: stopped"),
            Ok(o) => eprintln!(
                "cluster: cluster.sh stop failed:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cluster: could not run cluster.sh stop: {e}"),
        }
    }
}

/// A running `kubectl port-forward`; ended when dropped.
#[derive(Debug)]
pub struct PortForward {
    child: Child,
    /// The local port.
    pub port: u16,
    _log: tempfile::NamedTempFile,
}

impl PortForward {
    /// A client for the forwarded Service.
    pub fn client(&self) -> crate::Client {
        crate::Client::new(self.port)
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An overlay rendered (`kubectl kustomize`) and read by `deploy/manifest.py pods`: what the
/// operator gives each SpinApp's pod (variables with their ConfigMap values or Secret references,
/// components, probes).
pub fn rendered_pods(kubectl: &Path, overlay: &Path) -> serde_json::Value {
    let root = crate::repo_root();
    let python = root.join(".venv/bin/python");
    let python = if python.is_file() {
        python
    } else {
        PathBuf::from("python3")
    };
    let rendered = Command::new(kubectl)
        .arg("kustomize")
        .arg(overlay)
        .output()
        .expect("kubectl kustomize");
    assert!(
        rendered.status.success(),
        "kubectl kustomize {} failed: {}",
        overlay.display(),
        String::from_utf8_lossy(&rendered.stderr)
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
    serde_json::from_slice(&pods.stdout).expect("pods JSON")
}
