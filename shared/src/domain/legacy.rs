//! The Flask service's formats, read but never written: passlib `pbkdf2_sha256` password
//! hashes and itsdangerous 1.1 signed links. Only deployments imported from the Flask
//! service accept them (`migrate --import-flask` leaves a marker; see `flask_import`).
//! Pure functions, no I/O.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// passlib's default rounds for `pbkdf2_sha256` (1.7): what a login without a legacy hash
/// spends on a dummy derivation, so that every login costs the same.
pub const PBKDF2_DEFAULT_ROUNDS: u32 = 29_000;

const PBKDF2_PREFIX: &str = "$pbkdf2-sha256$";

/// A parsed `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pbkdf2Hash {
    pub rounds: u32,
    salt: Vec<u8>,
    checksum: Vec<u8>,
}

/// True for strings in passlib's `pbkdf2_sha256` format (whether or not they parse).
pub fn is_pbkdf2_sha256(stored: &str) -> bool {
    stored.starts_with(PBKDF2_PREFIX)
}

impl Pbkdf2Hash {
    pub fn parse(stored: &str) -> Option<Self> {
        let rest = stored.strip_prefix(PBKDF2_PREFIX)?;
        let mut parts = rest.split('$');
        let (rounds, salt, checksum) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let rounds: u32 = rounds.parse().ok().filter(|r| *r > 0)?;
        let checksum = ab64_decode(checksum)?;
        if checksum.len() != 32 {
            return None;
        }
        Some(Self {
            rounds,
            salt: ab64_decode(salt)?,
            checksum,
        })
    }

    /// Derives the checksum for `password` and compares in constant time.
    pub fn verify(&self, password: &str) -> bool {
        let derived = derive(password, &self.salt, self.rounds);
        bool::from(derived.as_slice().ct_eq(&self.checksum))
    }
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output, as passlib computes it.
fn derive(password: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, rounds, &mut out);
    out
}

/// A derivation of the default cost whose result is thrown away: the legacy half of a
/// login that has no legacy hash to check.
pub fn dummy_pbkdf2(password: &str) {
    std::hint::black_box(derive(
        password,
        b"briefthreat-dummy-salt",
        PBKDF2_DEFAULT_ROUNDS,
    ));
}

/// passlib's "adapted base64": standard base64 with `.` for `+`, no padding.
fn ab64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD
        .decode(text.replace('.', "+").trim_end_matches('='))
        .ok()
}

/// Why an itsdangerous token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItsDangerousError {
    /// Not signed with this secret and salt, or not a token of this kind at all.
    BadSignature,
    /// Signed, but older than the allowed age (or from the future).
    Expired,
}

/// itsdangerous 1.1's `Signer` defaults: HMAC-SHA1 keyed with
/// `sha1(salt + "signer" + secret)` ("django-concat"), signature base64url without padding.
fn signature(secret: &[u8], salt: &str, value: &[u8]) -> Hmac<Sha1> {
    let mut kdf = Sha1::new();
    kdf.update(salt.as_bytes());
    kdf.update(b"signer");
    kdf.update(secret);
    let key = kdf.finalize();
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(value);
    mac
}

fn unsign<'a>(secret: &[u8], salt: &str, token: &'a str) -> Result<&'a str, ItsDangerousError> {
    let (value, sig) = token
        .rsplit_once('.')
        .ok_or(ItsDangerousError::BadSignature)?;
    // constant-time comparison
    signature(secret, salt, value.as_bytes())
        .verify_slice(&b64_decode(sig)?)
        .map_err(|_| ItsDangerousError::BadSignature)?;
    Ok(value)
}

/// itsdangerous's `base64_decode`: base64url, padding optional.
fn b64_decode(text: &str) -> Result<Vec<u8>, ItsDangerousError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| ItsDangerousError::BadSignature)
}

/// The most a compressed payload may inflate to: links hold a username and an id.
const MAX_PAYLOAD: u64 = 64 * 1024;

/// `URLSafeSerializer` payload: base64url JSON, zlib-compressed when it starts with `.`.
fn load_payload(payload: &str) -> Result<Value, ItsDangerousError> {
    let (compressed, payload) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let bytes = b64_decode(payload)?;
    let json = if compressed {
        use std::io::Read;
        let mut out = Vec::new();
        // bounded: a signed payload is ours, but never inflate without a limit, and one
        // that goes over it is refused, not cut short
        flate2::read::ZlibDecoder::new(bytes.as_slice())
            .take(MAX_PAYLOAD + 1)
            .read_to_end(&mut out)
            .map_err(|_| ItsDangerousError::BadSignature)?;
        if out.len() as u64 > MAX_PAYLOAD {
            return Err(ItsDangerousError::BadSignature);
        }
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|_| ItsDangerousError::BadSignature)
}

/// `URLSafeSerializer(secret, salt).loads(token)`.
pub fn loads(secret: &[u8], salt: &str, token: &str) -> Result<Value, ItsDangerousError> {
    load_payload(unsign(secret, salt, token)?)
}

/// `URLSafeTimedSerializer(secret, salt).loads(token, max_age)`: the payload and the
/// time it was signed (Unix seconds).
pub fn loads_timed(
    secret: &[u8],
    salt: &str,
    token: &str,
    max_age: i64,
    now: i64,
) -> Result<(Value, i64), ItsDangerousError> {
    let value = unsign(secret, salt, token)?;
    let (payload, timestamp) = value
        .rsplit_once('.')
        .ok_or(ItsDangerousError::BadSignature)?;
    let bytes = b64_decode(timestamp)?;
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(ItsDangerousError::BadSignature);
    }
    let mut be = [0u8; 8];
    be[8 - bytes.len()..].copy_from_slice(&bytes);
    let signed_at =
        i64::try_from(u64::from_be_bytes(be)).map_err(|_| ItsDangerousError::Expired)?;
    let age = now - signed_at;
    if !(0..=max_age).contains(&age) {
        return Err(ItsDangerousError::Expired);
    }
    Ok((load_payload(payload)?, signed_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    // passlib 1.7.4: pbkdf2_sha256.using(rounds=1212, salt=b"saltsaltsaltsalt").hash("password")
    // (the salt and checksum hold `.`, passlib's stand-in for `+`)
    const PASSLIB_VECTOR: &str =
        "$pbkdf2-sha256$1212$c2FsdHNhbHRzYWx0c2FsdA$D.u2GTB1hpLD54uO1F793TLmUwdZoFdOD1abwT4YxYM";

    #[test]
    fn passlib_hashes_verify() {
        let hash = Pbkdf2Hash::parse(PASSLIB_VECTOR).unwrap();
        assert_eq!(hash.rounds, 1212);
        assert!(hash.verify("password"));
        assert!(!hash.verify("Password"));
        assert!(is_pbkdf2_sha256(PASSLIB_VECTOR));
        assert!(!is_pbkdf2_sha256("$argon2id$v=19$m=19456,t=2,p=1$x$y"));
        assert_eq!(Pbkdf2Hash::parse("$pbkdf2-sha256$0$AA$AA"), None);
        assert_eq!(Pbkdf2Hash::parse("$pbkdf2-sha256$10$AA"), None);
    }

    // Made with itsdangerous 1.1.0 (Python):
    //   URLSafeSerializer("s3cret", salt="form-resolution").dumps({"username": "root", "form_id": 7})
    //   URLSafeTimedSerializer("s3cret", salt="password-reset")
    //       .dumps({"username": "alice", "token_id": 3})  # at 1700000000
    //   the same with {"username": "ä" * 60, "token_id": 3}: zlib-compressed, a leading `.`
    const RESOLVE: &str = "eyJ1c2VybmFtZSI6InJvb3QiLCJmb3JtX2lkIjo3fQ._oeLVxnIKUoj_k0LHz9FKmEsNJg";
    const RESET: &str =
        "eyJ1c2VybmFtZSI6ImFsaWNlIiwidG9rZW5faWQiOjN9.ZVPxAA.N8XEENCvqFX5g43Uh8FvS-Ex0vg";
    const COMPRESSED: &str = ".eJyrViotTi3KS8xNVbJSOrxkYKCSjlJJfnZqXnxmipKVcS0AelRdaQ.ZVPxAA.borBS5Uvggy6t0wYRCKMINdZs4w";

    #[test]
    fn itsdangerous_links_verify() {
        let value = loads(b"s3cret", "form-resolution", RESOLVE).unwrap();
        assert_eq!(value, serde_json::json!({"username": "root", "form_id": 7}));
        assert_eq!(
            loads(b"other", "form-resolution", RESOLVE),
            Err(ItsDangerousError::BadSignature)
        );
        assert_eq!(
            loads(b"s3cret", "password-reset", RESOLVE),
            Err(ItsDangerousError::BadSignature)
        );
        let (value, at) =
            loads_timed(b"s3cret", "password-reset", RESET, 3600, 1_700_000_100).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"username": "alice", "token_id": 3})
        );
        assert_eq!(at, 1_700_000_000);
        assert_eq!(
            loads_timed(b"s3cret", "password-reset", RESET, 3600, 1_700_003_601),
            Err(ItsDangerousError::Expired)
        );
        assert_eq!(
            loads_timed(b"s3cret", "form-resolution", RESET, 3600, 1_700_000_100),
            Err(ItsDangerousError::BadSignature)
        );
        let (value, _) =
            loads_timed(b"s3cret", "password-reset", COMPRESSED, 3600, 1_700_000_000).unwrap();
        assert_eq!(value["username"], "ä".repeat(60));
    }

    /// A compressed payload signed as itsdangerous signs it: `.` + base64url(zlib(json)).
    fn signed_compressed(json: &[u8]) -> String {
        use std::io::Write;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zlib.write_all(json).unwrap();
        let value = format!(".{}", URL_SAFE_NO_PAD.encode(zlib.finish().unwrap()));
        let sig = signature(b"s3cret", "form-resolution", value.as_bytes()).finalize();
        format!("{value}.{}", URL_SAFE_NO_PAD.encode(sig.into_bytes()))
    }

    #[test]
    fn compressed_payloads_inflate_only_so_far() {
        let json = |len: usize| format!(r#"{{"username":"{}"}}"#, "a".repeat(len));
        let fits = json(MAX_PAYLOAD as usize - 15);
        assert_eq!(fits.len() as u64, MAX_PAYLOAD);
        let value = loads(
            b"s3cret",
            "form-resolution",
            &signed_compressed(fits.as_bytes()),
        );
        assert_eq!(
            value.unwrap()["username"].as_str().map(str::len),
            Some(fits.len() - 15)
        );
        // one byte more is refused, and so is a valid object followed by MiB of blanks
        // (a few KiB compressed), which cut short at the limit would still parse
        let over = json(MAX_PAYLOAD as usize - 14);
        assert_eq!(
            loads(
                b"s3cret",
                "form-resolution",
                &signed_compressed(over.as_bytes())
            ),
            Err(ItsDangerousError::BadSignature)
        );
        let mut padded = br#"{"username":"root","form_id":7}"#.to_vec();
        padded.resize(8 << 20, b' ');
        assert_eq!(
            loads(b"s3cret", "form-resolution", &signed_compressed(&padded)),
            Err(ItsDangerousError::BadSignature)
        );
    }
}
