//! Logs a person can read and a machine can parse: every line on stderr is one JSON object
//! (`tracing-subscriber`'s JSON format with the event's fields at the top level).
//!
//! Lines are handed to a writer thread through a bounded channel, so a request never waits
//! on a write to stderr; the thread writes whatever has queued up in one go. When the
//! channel is full (whoever reads stderr has stopped), the caller waits: no line is dropped.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// The sending end of the writer thread; cloned into every formatted event.
#[derive(Clone)]
pub struct Lines {
    tx: SyncSender<Message>,
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes each event with one call, so one message is one line.
        let _ = self.tx.send(Message::Line(buf.to_vec()));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Lines {
    /// Waits (at most a second) until every line sent so far is on stderr.
    pub fn flush(&self) {
        let (done_tx, done_rx) = sync_channel(1);
        if self.tx.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

fn write_lines(rx: Receiver<Message>) {
    // Not `stderr().lock()`: held across `recv`, the lock would block every `eprintln!`.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
}

/// Installs the JSON subscriber; the level comes from `LAMBDA_EMULATOR_LOG` (`error`,
/// `warn`, `info` (default), `debug`). `RUST_LOG` is the functions' and is not read here.
pub fn init() -> Lines {
    let (tx, rx) = sync_channel(16 * 1024);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(rx))
        .expect("cannot start the log writer thread");
    let lines = Lines { tx };
    let level = std::env::var("LAMBDA_EMULATOR_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .with_writer(lines.clone())
        .init();
    lines
}
