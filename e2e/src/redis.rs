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
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server (found through `REDIS_SERVER_BIN`, then `PATH`), or returns `None`
    /// after a loud SKIP (a failure under `REQUIRE_SPIN=1`).
    pub fn start(test: &str) -> Option<Self> {
        let program = crate::require_program("REDIS_SERVER_BIN", "redis-server", test)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::free_port();
        let child = Command::new(program)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
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
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut request = format!("*{}\r\n", args.len());
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
