//! Password hashing: argon2id with the crate's defaults (OWASP: 19 MiB, t=2, p=1), always
//! off the async executor, at most once per request.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::legacy::{Pbkdf2Hash, dummy_pbkdf2, is_pbkdf2_sha256};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes a new password into a PHC string.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// What a login's password check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCheck {
    pub matches: bool,
    /// An argon2id hash of the password, to replace a matching legacy hash with.
    pub upgraded_hash: Option<String>,
}

/// Checks a password against a stored hash. With no stored hash (unknown user, or a user
/// whose password is not set) it verifies against a dummy hash of the same cost and
/// answers false, so the time taken does not tell whether the account exists.
///
/// On a deployment imported from the Flask service (`legacy`), a stored passlib
/// `pbkdf2_sha256` hash is accepted too; then every login costs one argon2 computation
/// and one PBKDF2 derivation whatever it finds: a legacy hash is derived and an argon2id
/// hash of the candidate made (kept only on a match), any other case verifies argon2 and
/// derives a dummy PBKDF2 at passlib's default rounds.
pub async fn verify_login(
    password: String,
    stored: Option<String>,
    legacy: bool,
) -> Result<LoginCheck, PasswordError> {
    tokio::task::spawn_blocking(move || {
        if legacy && let Some(hash) = stored.as_deref().filter(|h| is_pbkdf2_sha256(h)) {
            let matches = Pbkdf2Hash::parse(hash).is_some_and(|h| h.verify(&password));
            let upgraded = hash_blocking(&password)?;
            return Ok(LoginCheck {
                matches,
                upgraded_hash: matches.then_some(upgraded),
            });
        }
        let (candidate, real) = match stored {
            Some(hash) => (hash, true),
            None => (dummy_hash().to_string(), false),
        };
        let matches = match PasswordHash::new(&candidate) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
        if legacy {
            dummy_pbkdf2(&password);
        }
        Ok(LoginCheck {
            matches: real && matches,
            upgraded_hash: None,
        })
    })
    .await?
}

/// A hash of a random password at the current parameters, computed once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking(&crate::domain::jwt::random_id())
            .expect("hashing a random password cannot fail")
    })
}

/// Warms the dummy hash at cold start so the first unknown-user login costs what a known
/// user's does.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`verify_login`] on a deployment that never came from the Flask service.
    async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
        Ok(verify_login(password, stored, false).await?.matches)
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(stored)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    // passlib 1.7.4: pbkdf2_sha256.using(rounds=1212, salt=b"saltsaltsaltsalt").hash("password")
    const PASSLIB: &str =
        "$pbkdf2-sha256$1212$c2FsdHNhbHRzYWx0c2FsdA$D.u2GTB1hpLD54uO1F793TLmUwdZoFdOD1abwT4YxYM";

    #[tokio::test]
    async fn legacy_hashes_match_only_on_imported_deployments_and_upgrade() {
        let check = verify_login("password".into(), Some(PASSLIB.into()), true)
            .await
            .unwrap();
        assert!(check.matches);
        let upgraded = check.upgraded_hash.unwrap();
        assert!(upgraded.starts_with("$argon2id$"));
        assert!(verify("password".into(), Some(upgraded)).await.unwrap());
        let wrong = verify_login("Password".into(), Some(PASSLIB.into()), true)
            .await
            .unwrap();
        assert_eq!((wrong.matches, wrong.upgraded_hash), (false, None));
        // not imported: the old format is not a password hash at all
        assert!(
            !verify("password".into(), Some(PASSLIB.into()))
                .await
                .unwrap()
        );
        let unknown = verify_login("password".into(), None, true).await.unwrap();
        assert_eq!((unknown.matches, unknown.upgraded_hash), (false, None));
    }

    /// On an imported deployment an unknown user, a wrong password against an argon2id
    /// hash and one against a passlib hash (at passlib's default rounds) each cost one
    /// argon2 computation and one PBKDF2 derivation. Loose bounds,
    /// since the machine may be busy: what they catch is a path that skips either half.
    #[tokio::test]
    async fn unknown_users_cost_what_known_ones_do_on_imported_deployments() {
        let argon = hash("s3cret".into()).await.unwrap();
        let salt = [7u8; 16];
        let mut checksum = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"s3cret", &salt, 29_000, &mut checksum);
        use base64::Engine;
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
        // Interleaved rounds, the fastest of each: the least disturbed by other load.
        let cases = [None, Some(argon), Some(passlib)];
        let mut fastest = [f64::MAX; 3];
        for _ in 0..7 {
            for (case, stored) in cases.iter().enumerate() {
                let started = std::time::Instant::now();
                let check = verify_login("wrong".into(), stored.clone(), true)
                    .await
                    .unwrap();
                assert!(!check.matches);
                fastest[case] = fastest[case].min(started.elapsed().as_secs_f64());
            }
        }
        let [unknown, argon, passlib] = fastest;
        for known in [argon, passlib] {
            let ratio = known / unknown;
            assert!(
                (0.7..1.43).contains(&ratio),
                "known {known:.4}s, unknown {unknown:.4}s"
            );
        }
    }
}
