//! Password hashing: argon2id with the crate's defaults (OWASP: 19 MiB, t=2, p=1), always
//! off the async executor, at most once per request, and at most one per core at once in a
//! process, however many invocations it serves together.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
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
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(hashes_at_once()));

fn hashes_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

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

/// Argon2's working memory (19 MiB at the default parameters), kept for the next logins
/// of the process. The crate allocates it anew for every hash, and the freed blocks,
/// split by small allocations in between, left `auth-login` at ~250 MiB after a minute of
/// logins. Kept, it is allocated and faulted in once per burst of logins: while hashes
/// overlap, one for each that runs at once ([`HASHING`]), and once a burst ends, one.
/// With only one kept, the second of two hashes at once mapped its own and gave it back:
/// at 16 connections of logins every other login paid for 19 MiB of fresh pages, and the
/// kernel for unmapping them.
static KEPT: LazyLock<KeptMemory> = LazyLock::new(|| KeptMemory::new(hashes_at_once()));

/// How long the kept memory outlives the last login that used it. While logins keep
/// coming each reuses it (faulting 19 MiB of fresh pages in costs a hash ~8 ms, a third
/// more); once they stop, the process gives it back instead of holding it for good.
const KEPT_WHILE_IDLE: Duration = Duration::from_secs(2);

struct KeptMemory {
    /// Working memories no hash is using now, at most `most` of them.
    spare: Mutex<Vec<Vec<Block>>>,
    most: usize,
    /// Hashes running on kept memory now.
    running: AtomicUsize,
    /// Hashes that have used the kept memory: a release waits until no new one came.
    uses: AtomicU64,
}

impl KeptMemory {
    fn new(most: usize) -> Self {
        KeptMemory {
            spare: Mutex::new(Vec::new()),
            most,
            running: AtomicUsize::new(0),
            uses: AtomicU64::new(0),
        }
    }

    fn spare(&self) -> MutexGuard<'_, Vec<Vec<Block>>> {
        self.spare.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `hash` on `blocks` blocks of kept memory, allocated when none is spare (more
    /// hashes at once than before, or the first after a release). After, the memory is
    /// kept while another hash runs (the next login takes it), or when none is spare.
    fn with<T>(&self, blocks: usize, hash: impl FnOnce(&mut [Block]) -> T) -> T {
        let kept = self.spare().pop().filter(|memory| memory.len() == blocks);
        // Far above the allocator's mmap threshold (`init_process`): mapped on its own,
        // and given back to the kernel when freed.
        let mut memory = kept.unwrap_or_else(|| vec![Block::default(); blocks]);
        self.uses.fetch_add(1, Ordering::Relaxed);
        self.running.fetch_add(1, Ordering::Relaxed);
        let hashed = hash(&mut memory);
        let others_running = self.running.fetch_sub(1, Ordering::Relaxed) > 1;
        let mut spare = self.spare();
        if spare.len() < self.most && (others_running || spare.is_empty()) {
            spare.push(memory);
        }
        hashed
    }

    /// Frees the kept memory once `idle` has passed without a hash using it. Called after
    /// each login, on the runtime that served it. A hash running meanwhile keeps its own
    /// until it is done, and its caller schedules another release.
    fn release_when_idle(&'static self, idle: Duration) {
        let seen = self.uses.load(Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            if self.uses.load(Ordering::Relaxed) == seen {
                self.spare().clear();
            }
        });
    }

    #[cfg(test)]
    fn kept_blocks(&self) -> Vec<usize> {
        self.spare().iter().map(Vec::len).collect()
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
        // No memory spare (other hashes hold it all): this one gets its own, same answer.
        let parsed = PasswordHash::new(&stored[0]).unwrap();
        let held = std::mem::take(&mut *KEPT.spare());
        assert!(verify_argon2(b"right", &parsed));
        drop(held);
    }

    #[tokio::test]
    async fn kept_memory_is_given_back_once_no_hash_used_it_for_a_while() {
        let kept: &'static KeptMemory = Box::leak(Box::new(KeptMemory::new(2)));
        let idle = Duration::from_millis(100);
        let in_use = |_: &mut [Block]| ();
        kept.with(8, in_use);
        kept.release_when_idle(idle);
        tokio::time::sleep(idle / 2).await;
        // Used again before the first release was due: that one lets it be.
        kept.with(8, in_use);
        kept.release_when_idle(idle);
        tokio::time::sleep(idle * 3 / 4).await;
        assert_eq!(kept.kept_blocks(), [8]);
        tokio::time::sleep(idle * 2).await;
        assert_eq!(kept.kept_blocks(), [] as [usize; 0]);
        // The next hash allocates it again.
        kept.with(8, in_use);
        assert_eq!(kept.kept_blocks(), [8]);
    }

    /// Hashes at once each get memory of their own. While they overlap, up to as many as
    /// the process runs at once keep theirs for the next ones; once none runs, one is kept.
    #[test]
    fn overlapping_hashes_keep_their_memory_while_they_overlap() {
        let kept = KeptMemory::new(2);
        let address = |memory: &mut [Block]| memory.as_ptr() as usize;
        // Three at once, nested: each ends while the ones around it still run.
        let (outer, inner, innermost) = kept.with(8, |outer| {
            let (inner, innermost) = kept.with(8, |inner| {
                let innermost = kept.with(8, address);
                assert_eq!(kept.kept_blocks(), [8], "kept while others run");
                (address(inner), innermost)
            });
            assert_eq!(kept.kept_blocks(), [8, 8], "at most two");
            (address(outer), inner, innermost)
        });
        assert!(outer != inner && inner != innermost && outer != innermost);
        // The last one ended with two spare already: its memory went.
        assert_eq!(kept.kept_blocks(), [8, 8]);
        // Two at once again: both reuse what was kept, and one stays after.
        let again = kept.with(8, |first| (address(first), kept.with(8, address)));
        let reused = [inner, innermost];
        assert!(reused.contains(&again.0) && reused.contains(&again.1));
        assert_eq!(kept.kept_blocks(), [8]);
        // Another size (other parameters) is not reused: a fresh one, kept instead.
        kept.with(4, |_| ());
        assert_eq!(kept.kept_blocks(), [4]);
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
