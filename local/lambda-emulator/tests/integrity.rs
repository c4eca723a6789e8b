//! No response is lost or damaged: 20,000 requests over 16 connections, bodies of about
//! 1 KiB, 24 KiB, 600 KiB and 2.5 MB (answered, or sent and echoed), each checked byte for
//! byte against what the probe must have sent for that very request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Emulator, Options, pattern};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};

const REQUESTS: usize = 20_000;
const CONNECTIONS: usize = 16;
const SLOWEST_ALLOWED: Duration = Duration::from_secs(5);

/// The size of request `i`: mostly small (85% 1 KiB), a share of large ones (15% 24 KiB,
/// 2% 600 KiB, 0.5% 2.5 MB): about 600 MB in all.
fn size(i: usize) -> usize {
    match i % 200 {
        0 => 2_500_000,
        1..=4 => 600 * 1024,
        5..=34 => 24 * 1024,
        _ => 1024,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_requests_lose_and_damage_nothing() {
    let emulator = Emulator::start(Options {
        args: vec!["--instances".into(), "4".into()],
        ..Options::default()
    });
    let next = Arc::new(AtomicUsize::new(0));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            // One client per worker: one keep-alive connection each, as wrk's.
            let client = common::client();
            let next = next.clone();
            let slowest_us = slowest_us.clone();
            let bytes = bytes.clone();
            let base = emulator.url("/probe");
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= REQUESTS {
                        return;
                    }
                    let n = size(i);
                    let seed = i as u64;
                    // Every fourth request carries the body and has it echoed.
                    let echo = i % 4 == 3;
                    let request = match echo {
                        true => Request::post(format!("{base}?echo"))
                            .body(Full::new(Bytes::from(pattern::pattern(n, seed))))
                            .unwrap(),
                        false => Request::get(format!("{base}?bytes={n}&seed={seed}"))
                            .body(Full::default())
                            .unwrap(),
                    };
                    let sent = Instant::now();
                    let response = client
                        .request(request)
                        .await
                        .unwrap_or_else(|e| panic!("request {i} lost: {e}"));
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .unwrap_or_else(|e| panic!("request {i}: body lost: {e}"))
                        .to_bytes();
                    let took = sent.elapsed();
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "request {i}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    );
                    assert_eq!(body.len(), n, "request {i}: length");
                    assert!(
                        pattern::matches(&body, n, seed),
                        "request {i}: the body differs"
                    );
                    assert!(took < SLOWEST_ALLOWED, "request {i} took {took:?}");
                    slowest_us.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let took = started.elapsed();
    let requests = emulator.log_of("request");
    let errors = requests
        .iter()
        .filter(|r| r["status"].as_u64() != Some(200))
        .count();
    eprintln!(
        "integrity: {REQUESTS} requests, {} MB, in {:.1} s ({:.0} req/s), slowest {:.1} ms, {} request lines, {errors} not 200",
        bytes.load(Ordering::Relaxed) / 1_000_000,
        took.as_secs_f64(),
        REQUESTS as f64 / took.as_secs_f64(),
        slowest_us.load(Ordering::Relaxed) as f64 / 1000.0,
        requests.len(),
    );
    assert_eq!(errors, 0);
    // Every request was logged (the writer may lag a moment behind).
    let give_up = Instant::now() + Duration::from_secs(5);
    while emulator.log_of("request").len() < REQUESTS && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emulator.log_of("request").len(), REQUESTS);
}
