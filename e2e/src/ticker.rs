//! The forwarder's clock in the tests: what `scripts/dev` and the cluster's ticker do, calling
//! `POST /api/dispatch` with the API token every `interval`, on its own thread until dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http::Client;

/// A running ticker.
#[derive(Debug)]
pub struct Ticker {
    stopping: Arc<AtomicBool>,
    ticks: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Ticks `client`'s app every `interval` with `token`.
    pub fn start(client: Client, token: &str, interval: Duration) -> Self {
        let stopping = Arc::new(AtomicBool::new(false));
        let ticks = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stopping, ticks) = (Arc::clone(&stopping), Arc::clone(&ticks));
            let token = token.to_owned();
            std::thread::spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    if let Ok(response) = client.post("/api/dispatch").bearer(&token).send() {
                        assert_eq!(response.status, 200, "dispatch: {}", response.text());
                        ticks.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(interval);
                }
            })
        };
        Self {
            stopping,
            ticks,
            thread: Some(thread),
        }
    }

    /// Dispatch calls answered so far.
    pub fn ticks(&self) -> usize {
        self.ticks.load(Ordering::SeqCst)
    }

    /// Waits until `rounds` more dispatch calls than now have been answered (each a full round:
    /// whatever was due has been sent when it answers), or panics after `timeout`. What a test
    /// waits for before asserting that nothing more was sent, instead of a fixed sleep.
    pub fn wait_rounds(&self, rounds: usize, timeout: Duration) {
        let target = self.ticks() + rounds;
        let deadline = std::time::Instant::now() + timeout;
        while self.ticks() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "{rounds} dispatch rounds did not complete within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result.expect("a dispatch call failed");
            }
        }
    }
}
