//! Password hashing: argon2id with the crate's defaults (OWASP: 19 MiB, t=2, p=1), always
//! off the async executor, at most once per request, and at most one per core at once in a
//! process, however many invocations it serves together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
    let hashed = off_the_executor(move || hash_blocking(&password)).await?;
    KEPT.release_when_idle(KEPT_WHILE_IDLE);
    hashed
}

/// Hashes running at once in this process: one per core. More would only share the cores
/// and each hold its own 19 MiB; the rest wait their turn here.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// Runs `work` on a blocking thread once a core is free for it.
async fn off_the_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    // The semaphore is never closed.
    let _turn = HASHING.acquire().await.ok();
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// What the crate's hasher does (argon2id at its default parameters, a random 16-byte
/// salt), on the kept working memory: a login that upgrades a legacy hash then costs what
/// one that verifies an argon2id hash does, fresh pages included.
fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    // The crate's defaults, named once: they make the hash and its PHC string alike.
    let (algorithm, version, params) =
        (Algorithm::default(), Version::default(), Params::default());
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| failed(&e))?;
    let mut computed = [0u8; Params::DEFAULT_OUTPUT_LEN];
    KEPT.with(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut computed, memory)
    })
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&computed).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
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
    let check = off_the_executor(move || {
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
            None => (DUMMY_HASH.to_string(), false),
        };
        let matches = PasswordHash::new(&candidate)
            .is_ok_and(|parsed| verify_argon2(password.as_bytes(), &parsed));
        if legacy {
            dummy_pbkdf2(&password);
        }
        Ok(LoginCheck {
            matches: real && matches,
            upgraded_hash: None,
        })
    })
    .await?;
    KEPT.release_when_idle(KEPT_WHILE_IDLE);
    check
}

/// Argon2's working memory (19 MiB at the default parameters), kept for the next login
/// of the process. The crate allocates it anew for every hash, and the freed blocks,
/// split by small allocations in between, left `auth-login` at ~250 MiB after a minute
/// of logins; kept, it is allocated once and faulted in once per burst of logins.
static KEPT: KeptMemory = KeptMemory::new();

/// How long the kept memory outlives the last login that used it. While logins keep
/// coming each reuses it (faulting 19 MiB of fresh pages in costs a hash ~8 ms, a third
/// more); once they stop, the process gives it back instead of holding it for good.
const KEPT_WHILE_IDLE: Duration = Duration::from_secs(2);

struct KeptMemory {
    blocks: Mutex<Vec<Block>>,
    /// Hashes that have used `blocks`: a release waits until no new one came.
    uses: AtomicU64,
}

impl KeptMemory {
    const fn new() -> Self {
        KeptMemory {
            blocks: Mutex::new(Vec::new()),
            uses: AtomicU64::new(0),
        }
    }

    /// Runs `hash` on `blocks` blocks of the kept memory, or of its own when another hash
    /// holds it (two at once in one process: a runtime serving concurrently, tests).
    fn with<T>(&self, blocks: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
        match self.blocks.try_lock() {
            Ok(mut kept) => {
                if kept.len() != blocks {
                    *kept = vec![Block::default(); blocks];
                }
                self.uses.fetch_add(1, Ordering::Relaxed);
                hash(&mut kept)
            }
            // Far above the allocator's mmap threshold (`init_process`), as the kept
            // block is: mapped for this hash and given back to the kernel when dropped.
            Err(_) => hash(&mut vec![Block::default(); blocks]),
        }
    }

    /// Frees the kept memory once `idle` has passed without a hash using it (freed, it goes
    /// back to the kernel, as above). Called after each login, on the runtime that served it.
    fn release_when_idle(&'static self, idle: Duration) {
        let seen = self.uses.load(Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            if self.uses.load(Ordering::Relaxed) != seen {
                return; // a later hash used it, and scheduled its own release
            }
            // Held: a hash is running on it now, and will schedule a release when done.
            if let Ok(mut kept) = self.blocks.try_lock() {
                *kept = Vec::new();
            }
        });
    }

    #[cfg(test)]
    fn kept_blocks(&self) -> usize {
        self.blocks.lock().map_or(0, |kept| kept.len())
    }
}

/// What the crate's verifier does (the same algorithm, version, parameters and salt as
/// the stored hash, compared in constant time), on the kept working memory.
fn verify_argon2(password: &[u8], stored: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(stored),
        Algorithm::try_from(stored.algorithm.as_str()),
    ) else {
        return false;
    };
    let Ok(version) = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut computed = vec![0u8; expected.len()];
    let hashed = KEPT.with(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut computed, memory)
    });
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

/// A hash of a random password nobody kept, at the current parameters: what logins of
/// unknown users are checked against, so that they cost what a known user's does. A
/// constant rather than a hash made at cold start (which took ~50 ms of every
/// `auth-login` and `reset-password` start); a test keeps its parameters equal to the
/// hasher's.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$j/tOzLXzdDOXXwTWrhVhJw$hxyzr2VBSvn16ckYyyq/ELT/wa19NukNargfA0yA7D8";

#[cfg(test)]
mod tests {
    use super::*;

    /// [`verify_login`] on a deployment that never came from the Flask service.
    async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
        Ok(verify_login(password, stored, false).await?.matches)
    }

    #[test]
    fn verifying_on_kept_memory_agrees_with_the_crates_verifier() {
        use argon2::password_hash::{CustomizedPasswordHasher, PasswordVerifier};
        let cheaper = Params::new(4096, 1, 1, None).unwrap();
        let stored = [
            hash_blocking("right").unwrap(),
            Argon2::default()
                .hash_password_customized(b"right", b"saltsaltsalt", Some("argon2i"), None, cheaper)
                .unwrap()
                .to_string(),
        ];
        for phc in &stored {
            let parsed = PasswordHash::new(phc).unwrap();
            for candidate in ["right", "wrong", ""] {
                let ours = verify_argon2(candidate.as_bytes(), &parsed);
                let crate_says = Argon2::default()
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(ours, crate_says, "{phc} {candidate:?}");
                assert_eq!(ours, candidate == "right");
            }
        }
        // Another hash holding the kept memory: the second gets its own, same answer.
        let parsed = PasswordHash::new(&stored[0]).unwrap();
        let _held = KEPT.blocks.lock().unwrap();
        assert!(verify_argon2(b"right", &parsed));
    }

    #[tokio::test]
    async fn kept_memory_is_given_back_once_no_hash_used_it_for_a_while() {
        let kept: &'static KeptMemory = Box::leak(Box::new(KeptMemory::new()));
        let idle = Duration::from_millis(100);
        let in_use = |_: &mut [Block]| ();
        kept.with(8, in_use);
        kept.release_when_idle(idle);
        tokio::time::sleep(idle / 2).await;
        // Used again before the first release was due: that one lets it be.
        kept.with(8, in_use);
        kept.release_when_idle(idle);
        tokio::time::sleep(idle * 3 / 4).await;
        assert_eq!(kept.kept_blocks(), 8);
        tokio::time::sleep(idle * 2).await;
        assert_eq!(kept.kept_blocks(), 0);
        // The next hash allocates it again.
        kept.with(8, in_use);
        assert_eq!(kept.kept_blocks(), 8);
    }

    #[tokio::test]
    async fn the_dummy_hash_has_the_hashers_parameters() {
        let fresh = hash("any".into()).await.unwrap();
        let parameters = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap().to_string();
        assert_eq!(parameters(DUMMY_HASH), parameters(&fresh));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
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
}
