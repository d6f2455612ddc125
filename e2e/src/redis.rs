//! A throwaway `redis-server` on a free loopback port, for the tests where several `spin up`
//! replicas share one key-value store as they do on Kubernetes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server; stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The address it listens on.
    pub host: String,
    password: Option<String>,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server (found through `REDIS_SERVER_BIN`, then `PATH`), or returns `None`
    /// after a loud SKIP (a failure under `REQUIRE_SPIN=1`).
    pub fn start(test: &str) -> Option<Self> {
        Self::start_on(test, "127.0.0.1", None)
    }

    /// Starts redis-server listening on `host` (an address of this machine, such as the test
    /// cluster's node address on its pod bridge), requiring `password` when given: a managed
    /// Redis as the pods of a cluster reach it.
    pub fn start_on(test: &str, host: &str, password: Option<&str>) -> Option<Self> {
        let program = crate::require_program("REDIS_SERVER_BIN", "redis-server", test)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::free_port();
        let mut command = Command::new(program);
        command.args([
            "--port",
            &port.to_string(),
            "--bind",
            host,
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start redis-server");
        let server = Self {
            child,
            port,
            host: host.to_owned(),
            password: password.map(str::to_owned),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// `redis://[:<password>@]<host>:<port>`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@{}:{}", self.host, self.port),
            None => format!("redis://{}:{}", self.host, self.port),
        }
    }

    /// A Spin runtime config that points the `default` key-value store at this server.
    pub fn runtime_config(&self) -> String {
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            self.url()
        )
    }

    /// Makes every write fail with `OOM command not allowed`, as a full or broken Redis does.
    pub fn refuse_writes(&self) {
        let reply = self.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
        assert!(reply.starts_with("+OK"), "{reply}");
        let reply = self.command(&["CONFIG", "SET", "maxmemory", "1"]);
        assert!(reply.starts_with("+OK"), "{reply}");
    }

    /// Undoes [`Self::refuse_writes`].
    pub fn accept_writes(&self) {
        let reply = self.command(&["CONFIG", "SET", "maxmemory", "0"]);
        assert!(reply.starts_with("+OK"), "{reply}");
    }

    /// Sends one command with the RESP protocol and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect((self.host.as_str(), self.port)).expect("connect");
        let mut request = String::new();
        if let Some(password) = &self.password {
            request.push_str(&format!(
                "*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n",
                password.len()
            ));
        }
        request.push_str(&format!("*{}\r\n", args.len()));
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).expect("write");
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok();
        let mut reply = vec![0; 1 << 16];
        let n = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(reply.get(..n).unwrap_or_default()).into_owned()
    }
}

/// A `MONITOR` connection: every command the server runs, as it runs it.
#[derive(Debug)]
pub struct Monitor {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stream: std::net::TcpStream,
}

impl Monitor {
    /// The command names seen since the last call (e.g. `["PING", "INCRBY", "MSET"]`), once
    /// the server has been quiet for a moment.
    pub fn take(&self) -> Vec<String> {
        let mut last = usize::MAX;
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let len = self.lines.lock().map(|l| l.len()).unwrap_or(0);
            if len == last {
                break;
            }
            last = len;
        }
        let lines = std::mem::take(&mut *self.lines.lock().expect("monitor lock"));
        lines
            .iter()
            .filter_map(|line| line.split('"').nth(1).map(str::to_ascii_uppercase))
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl RedisServer {
    /// Starts a `MONITOR` connection.
    pub fn monitor(&self) -> Monitor {
        use std::io::{BufRead, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.write_all(b"MONITOR\r\n").expect("write");
        let reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                // `+OK` first, then one `+<time> [db addr] "CMD" "arg"...` line per command.
                if line.contains('"') {
                    if let Ok(mut lines) = sink.lock() {
                        lines.push(line);
                    }
                }
            }
        });
        let monitor = Monitor { lines, stream };
        monitor.take();
        monitor
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
