//! A login costs the same whether or not the account exists. This is the one timed test.
//! It has its own binary because cargo runs test binaries one after another. Inside the
//! library's test binary, other tests hashing in parallel share the two cores, the hashing
//! semaphore and the kept argon2 memory, which made one case slower at random. `make bench`
//! (section d) measures the same property through the HTTP function.

use base64::Engine;
use shared::domain::passwords::{hash, verify_login};
use std::time::Instant;

/// On an imported deployment, three logins with a wrong password each cost one argon2
/// computation and one PBKDF2 derivation: an unknown user, a user with an argon2id hash,
/// and a user with a passlib hash at passlib's default rounds. The bounds are loose because
/// the machine may be busy. They catch a path that skips either half. They would not catch
/// a smaller difference, such as an argon2 half on fresh pages instead of the kept memory
/// (5–22% longer in release: `argon2_timing`, medians of 30). Section d of `make bench`
/// compares logins through the function.
#[tokio::test]
async fn unknown_users_cost_what_known_ones_do_on_imported_deployments() {
    let argon = hash("s3cret".into()).await.unwrap();
    let salt = [7u8; 16];
    let mut checksum = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"s3cret", &salt, 29_000, &mut checksum);
    let ab64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(b)
            .replace('+', ".")
    };
    let passlib = format!("$pbkdf2-sha256$29000${}${}", ab64(&salt), ab64(&checksum));
    assert!(
        verify_login("s3cret".into(), Some(passlib.clone()), true)
            .await
            .unwrap()
            .matches
    );
    // Interleaved rounds, each starting at a different case. Keep the fastest of each,
    // because it is the one least disturbed by other load.
    let cases = [None, Some(argon), Some(passlib)];
    let mut fastest = [f64::MAX; 3];
    for round in 0..9 {
        for offset in 0..cases.len() {
            let case = (round + offset) % cases.len();
            let started = Instant::now();
            let check = verify_login("wrong".into(), cases[case].clone(), true)
                .await
                .unwrap();
            assert!(!check.matches);
            fastest[case] = fastest[case].min(started.elapsed().as_secs_f64());
        }
    }
    let [unknown, argon, passlib] = fastest;
    eprintln!("fastest: unknown {unknown:.4}s, argon2id {argon:.4}s, passlib {passlib:.4}s");
    for known in [argon, passlib] {
        let ratio = known / unknown;
        assert!(
            (0.7..1.43).contains(&ratio),
            "known {known:.4}s, unknown {unknown:.4}s"
        );
    }
}
