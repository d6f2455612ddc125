//! The ticker as a Wasm command component (`wasi:cli/run`): Spin's command trigger, which the
//! SpinKube shim runs next to the forwarder's HTTP trigger in the forwarder's pods, calls this
//! `main` once. The loop is [`ticker::Ticker`]; this file gives it Spin's outbound HTTP and
//! variables (through `spin-adapter`) and std's monotonic clock.

#[cfg(target_arch = "wasm32")]
fn main() {
    use std::time::{Duration, Instant};

    use inbox_core::config::Secret;
    use spin_adapter::outbound::{self, Outgoing};

    /// The component's runtime: wasi:http to the pod's listener, std's clock and sleep (on
    /// wasm32-wasip2 std waits on `wasi:clocks/monotonic-clock` through `wasi:io/poll`).
    struct Spin {
        origin: Instant,
    }

    impl ticker::Host for Spin {
        fn dispatch(&mut self, token: &Secret, timeout: Duration) -> Result<u16, String> {
            outbound::send(Outgoing {
                method: "POST",
                https: false,
                authority: Some(ticker::DISPATCH_AUTHORITY.to_owned()),
                path_and_query: ticker::DISPATCH_PATH,
                headers: vec![
                    (
                        "authorization".to_owned(),
                        format!("Bearer {}", token.expose()),
                    ),
                    ("accept".to_owned(), "application/json".to_owned()),
                ],
                // `send` adds `content-length: 0`.
                body: b"",
                timeout,
            })
            .map(|answered| answered.status)
        }

        fn now(&self) -> Duration {
            self.origin.elapsed()
        }

        fn sleep(&mut self, duration: Duration) {
            std::thread::sleep(duration);
        }
    }

    inbox_core::logging::init("ticker", inbox_core::config::LogLevel::Info);
    ticker::Ticker::new(
        Spin {
            origin: Instant::now(),
        },
        spin_adapter::SpinVariables,
    )
    .run()
}

/// Native builds exist for tests and lints only: Spin's host calls would abort.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("ticker: a Wasm command component: build it for wasm32-wasip2 and run it under Spin's command trigger");
    std::process::exit(2);
}
