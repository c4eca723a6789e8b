//! Milliseconds per argon2 password hash at the parameters the functions use
//! (`shared::domain::passwords::hash`: argon2id, the crate's defaults). Two warm-up hashes, then
//! `ARGON2_TIMING_N` (default 20) timed ones, one after the other; prints one JSON object
//! on stdout. Run it optimised: `cargo run --release -p shared --example argon2_timing`.

use std::time::Instant;

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("ARGON2_TIMING_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20);
    let warm_ups = 2;
    for i in 0..warm_ups {
        hash_once(i).await;
    }
    let mut ms = Vec::with_capacity(runs);
    let mut params = String::new();
    for i in 0..runs {
        let started = Instant::now();
        let phc = hash_once(warm_ups + i).await;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if params.is_empty() {
            // "$argon2id$v=19$m=19456,t=2,p=1$salt$hash" → "argon2id v=19 m=19456,t=2,p=1"
            params = phc.split('$').skip(1).take(3).collect::<Vec<_>>().join(" ");
        }
    }
    ms.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "params": params,
        "warm_ups": warm_ups,
        "n": runs,
        "median_ms": round(percentile(&ms, 50.0)),
        "p90_ms": round(percentile(&ms, 90.0)),
        "min_ms": round(ms[0]),
        "max_ms": round(ms[runs - 1]),
    });
    println!("{report}");
}

async fn hash_once(i: usize) -> String {
    shared::domain::passwords::hash(format!("benchmark password {i}"))
        .await
        .expect("hashing cannot fail")
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}
