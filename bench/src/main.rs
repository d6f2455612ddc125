//! `bench`: the native tools of the benchmark suite. Run by `bench/run.py`; usable by hand:
//!
//! ```text
//! bench native --listen 127.0.0.1:8080 --db DIR/sqlite_key_value.db
//! bench seed   --events N [--size BYTES] (--sqlite FILE | --resp)
//! bench load   --port P (--get PATH [--bearer TOKEN] | --post-github BYTES --run ID)
//!              [--concurrency C] [--duration-ms D] [--warmup-ms W] [--expect STATUS]
//!              [--rate REQ_PER_S]   (open loop: constant arrival rate, C = most in flight)
//! bench copies --ports P[,P...] --run ID [--copies 50] [--rounds 10] [--size BYTES] [--pause-ms MS]
//! bench count  --db FILE [--events 60]   (store operations per request, counted natively)
//! bench receive --listen 127.0.0.1:9000 --secret whsec_...   (a forwarding destination:
//!              200 to every POST, or what PUT /answer names; GET /stats counts what arrived)
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bench::load::{self, Target};
use bench::native::{self, NativeApp};
use bench::receiver::Receiver;
use bench::seed;
use bench::sqlite_kv::SqliteKv;
use bench::{copies, opcount, receiver};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let options = Options::parse(args)?;
    match command.as_str() {
        "native" => run_native(&options),
        "seed" => run_seed(&options),
        "load" => run_load(&options),
        "copies" => run_copies(&options),
        "count" => run_count(&options),
        "receive" => run_receive(&options),
        _ => bail!(
            "usage: bench (native | seed | load | copies | count | receive) [--option value]... \
             (see src/main.rs)"
        ),
    }
}

/// `--name value` pairs.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self> {
        let mut map = HashMap::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}");
            };
            // A flag without a value (`--resp`) is "true".
            let value = match args.peek() {
                Some(next) if !next.starts_with("--") => args.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            map.insert(name.to_owned(), value);
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str> {
        self.get(name)
            .with_context(|| format!("--{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name} must be a number, got {text:?}")),
        }
    }
}

fn run_native(options: &Options) -> Result<()> {
    let listen = options.required("listen")?.to_owned();
    let kv = SqliteKv::open(&PathBuf::from(options.required("db")?))?;
    let app = Arc::new(NativeApp::from_env(kv)?);
    inbox_core::logging::init("native", inbox_core::config::LogLevel::Info);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        eprintln!("native: serving http://{listen}");
        native::serve(listener, app).await
    })?;
    Ok(())
}

fn run_receive(options: &Options) -> Result<()> {
    let listen = options.required("listen")?.to_owned();
    let receiver = Arc::new(
        Receiver::new(options.required("secret")?).context("--secret must be whsec_<base64>")?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        eprintln!("receive: listening on http://{listen}");
        receiver::serve(listener, receiver).await
    })?;
    Ok(())
}

fn run_seed(options: &Options) -> Result<()> {
    let events = options.number("events", 1000usize)?;
    let size = options.number("size", 1024usize)?;
    let recorded = seed::seed(events, size, |done| {
        eprintln!("seed: {done}/{events} events")
    })?;
    if let Some(path) = options.get("sqlite") {
        recorded.write_sqlite(&SqliteKv::open(&PathBuf::from(path))?)?;
        eprintln!(
            "seed: {events} events ({} keys) written to {path}",
            recorded.len()
        );
    } else if options.get("resp").is_some() {
        let stdout = std::io::stdout();
        recorded.write_resp(&mut std::io::BufWriter::new(stdout.lock()))?;
        eprintln!(
            "seed: {events} events ({} keys) written as Redis commands",
            recorded.len()
        );
    } else {
        bail!("seed needs --sqlite FILE or --resp");
    }
    Ok(())
}

fn run_load(options: &Options) -> Result<()> {
    let target = if let Some(path) = options.get("get") {
        Target::Get {
            path: path.to_owned(),
            bearer: options.get("bearer").map(str::to_owned),
        }
    } else if let Some(size) = options.get("post-github") {
        Target::GithubPost {
            size: size
                .parse()
                .context("--post-github takes a body size in bytes")?,
            run: options.required("run")?.to_owned(),
        }
    } else {
        bail!("load needs --get PATH or --post-github BYTES");
    };
    let expect = match &target {
        Target::Get { .. } => 200,
        Target::GithubPost { .. } => 202,
    };
    let spec = load::Spec {
        port: options.number("port", 0u16)?,
        target,
        concurrency: options.number("concurrency", 1usize)?,
        duration: Duration::from_millis(options.number("duration-ms", 5000u64)?),
        warmup: Duration::from_millis(options.number("warmup-ms", 500u64)?),
        expect: options.number("expect", expect)?,
        rate: match options.get("rate") {
            None => None,
            Some(_) => Some(options.number("rate", 0.0f64)?),
        },
    };
    if spec.port == 0 {
        bail!("--port is required");
    }
    if spec
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        bail!("--rate must be a positive number of requests per second");
    }
    print_json(&load::run(&spec))
}

fn run_copies(options: &Options) -> Result<()> {
    let ports = options
        .required("ports")?
        .split(',')
        .map(|port| port.trim().parse::<u16>())
        .collect::<Result<Vec<_>, _>>()
        .context("--ports takes comma-separated port numbers")?;
    let spec = copies::Spec {
        ports,
        copies: options.number("copies", 50usize)?,
        rounds: options.number("rounds", 10usize)?,
        size: options.number("size", 1024usize)?,
        run: options.required("run")?.to_owned(),
        pause: Duration::from_millis(options.number("pause-ms", 200u64)?),
    };
    print_json(&copies::run(&spec))
}

fn run_count(options: &Options) -> Result<()> {
    let events = options.number("events", 60usize)?;
    let path = PathBuf::from(options.required("db")?);
    let kv = SqliteKv::open(&path)?;
    seed::seed(events, 1024, |_| ())?.write_sqlite(&kv)?;
    print_json(&opcount::count_requests(&kv)?)
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}
