//! A forwarding destination for the tests: an HTTP/1.1 server on a free loopback port that
//! records every request and answers as the test scripts it (a status, a status with
//! `Retry-After`, or no answer at all), and checks signatures the way a receiver would: with the
//! project's Standard Webhooks verifier, which is checked against the specification's vectors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use webhook_verify::standard::{self, Key, SignedHeaders};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This status, with an empty body.
    Status(u16),
    /// This status with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// Reads the request and never answers (until the receiver stops).
    Hang,
    /// Sends the request on to this `http://host:port/path` (its headers but `host`,
    /// `content-length` and `connection`, and its body, as a proxy would) and answers with the
    /// status that came back, or 502 without one.
    Relay(String),
}

/// Decides the reply to the `nth` request (1-based) to `path`.
pub type Script = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it had been read.
    pub at: Instant,
    /// The request path.
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Verifies the Standard Webhooks signature with `secret` (`whsec_...`), as a receiver
    /// would, with the specification's 5 minute tolerance.
    pub fn verify(&self, secret: &str) -> Result<(), String> {
        let key = Key::parse(secret).map_err(|e| e.to_string())?;
        let now = crate::signing::now();
        standard::verify(
            SignedHeaders {
                id: self.header("webhook-id"),
                timestamp: self.header("webhook-timestamp"),
                signature: self.header("webhook-signature"),
            },
            &self.body,
            &[&key],
            now,
            Duration::from_secs(300),
        )
        .map_err(|e| e.to_string())
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    stopping: AtomicBool,
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    /// The address it listens on (127.0.0.1 unless started with [`Receiver::start_on`]).
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Starts a receiver answering as `script` says.
    pub fn start(script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on("127.0.0.1", script)
    }

    /// Starts a receiver on `host` (an address of this machine, such as the test cluster's node
    /// address, which its pods reach).
    pub fn start_on(
        host: &str,
        script: impl Fn(&str, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind((host, 0)).expect("bind a port");
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared::default());
        let script: Arc<Script> = Arc::new(script);
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(&listener, &shared, &script))
        };
        Self {
            host: host.to_owned(),
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Answers 200 to everything.
    pub fn ok() -> Self {
        Self::start(|_, _| Reply::Status(200))
    }

    /// `http://<host>:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The `allowed_outbound_hosts` pattern for this receiver.
    pub fn origin(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Everything received at `path` so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.lock()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.lock().clone()
    }

    /// Waits until `path` has received at least `count` requests, or `timeout` passed; returns
    /// what it received either way.
    pub fn wait_for(&self, path: &str, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(path);
            if got.len() >= count || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, script: &Arc<Script>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                let script = Arc::clone(script);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared, script.as_ref());
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reads one request, records it, answers (or hangs), closes.
fn serve(stream: TcpStream, shared: &Shared, script: &Script) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let this = Received {
        at: Instant::now(),
        path: path.clone(),
        headers,
        body,
    };
    let nth = {
        let mut received = shared
            .received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        received.push(this.clone());
        received.iter().filter(|r| r.path == path).count()
    };
    let mut stream = stream;
    let (status, extra) = match script(&path, nth) {
        Reply::Status(status) => (status, String::new()),
        Reply::Relay(target) => (relay(&target, &this), String::new()),
        Reply::RetryAfter(status, seconds) => (status, format!("retry-after: {seconds}\r\n")),
        Reply::Hang => {
            while !shared.stopping.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status} Scripted\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    stream.flush()
}

/// Sends `request` on to `target` (`http://host:port/path`); the status that came back, or 502.
fn relay(target: &str, request: &Received) -> u16 {
    let Some(rest) = target.strip_prefix("http://") else {
        return 502;
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/".to_owned()),
    };
    let Ok(mut stream) = TcpStream::connect(authority) else {
        return 502;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {}\r\nconnection: close\r\n",
        request.body.len()
    );
    for (name, value) in &request.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    if stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&request.body))
        .and_then(|()| stream.flush())
        .is_err()
    {
        return 502;
    }
    let mut status_line = String::new();
    if BufReader::new(&stream).read_line(&mut status_line).is_err() {
        return 502;
    }
    status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(502)
}
