//! Signed link tokens for e-mailed links, keyed with `FLASK_SECRET`.
//!
//! Format: `<payload>.<signature>`, both base64url without padding; the payload is compact
//! JSON and the signature is HMAC-SHA256 over `<purpose>.<payload>`, so a token made for
//! one purpose never verifies for another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::legacy::{self, ItsDangerousError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordLinkKind {
    /// The first set-password link of a new account (longer window).
    Set,
    Reset,
}

/// Names the user and the user's password-link counter at the time of sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordLink {
    #[serde(rename = "u")]
    pub user_id: i64,
    #[serde(rename = "c")]
    pub counter: i64,
    #[serde(rename = "k")]
    pub kind: PasswordLinkKind,
    #[serde(rename = "t")]
    pub issued_at: i64,
}

/// Names the admin it was sent to and the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveLink {
    #[serde(rename = "a")]
    pub admin_id: i64,
    #[serde(rename = "f")]
    pub form_id: i64,
    #[serde(rename = "t")]
    pub issued_at: i64,
}

/// A password link e-mailed by the Flask service: the user and the value of the user's
/// `current_pw_token` when it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LegacyPasswordLink {
    pub username: String,
    pub token_id: i64,
    #[serde(skip)]
    pub issued_at: i64,
}

/// A resolve link e-mailed by the Flask service: the admin's username and the form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LegacyResolveLink {
    pub username: String,
    pub form_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("No token provided")]
    Missing,
    #[error("This token is invalid")]
    Invalid,
}

const PASSWORD_PURPOSE: &str = "password";
/// The Flask service's itsdangerous salts.
const LEGACY_PASSWORD_SALT: &str = "password-reset";
const LEGACY_RESOLVE_SALT: &str = "form-resolution";
const RESOLVE_PURPOSE: &str = "resolve";

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    pub fn new(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
        }
    }

    pub fn sign_password(&self, link: &PasswordLink) -> String {
        self.sign(PASSWORD_PURPOSE, link)
    }

    pub fn verify_password(&self, token: &str) -> Result<PasswordLink, LinkError> {
        self.verify(PASSWORD_PURPOSE, token)
    }

    pub fn sign_resolve(&self, link: &ResolveLink) -> String {
        self.sign(RESOLVE_PURPOSE, link)
    }

    pub fn verify_resolve(&self, token: &str) -> Result<ResolveLink, LinkError> {
        self.verify(RESOLVE_PURPOSE, token)
    }

    /// A Flask-service password link (`URLSafeTimedSerializer`, salt `password-reset`),
    /// signed at most `max_age` seconds before `now`. Only for imported deployments: the
    /// caller checks the marker.
    pub fn verify_legacy_password(
        &self,
        token: &str,
        max_age: i64,
        now: i64,
    ) -> Result<LegacyPasswordLink, ItsDangerousError> {
        let (value, issued_at) =
            legacy::loads_timed(&self.key, LEGACY_PASSWORD_SALT, token.trim(), max_age, now)?;
        let mut link: LegacyPasswordLink =
            serde_json::from_value(value).map_err(|_| ItsDangerousError::BadSignature)?;
        link.issued_at = issued_at;
        Ok(link)
    }

    /// A Flask-service resolve link (`URLSafeSerializer`, salt `form-resolution`, no
    /// expiry). Only for imported deployments: the caller checks the marker.
    pub fn verify_legacy_resolve(&self, token: &str) -> Result<LegacyResolveLink, LinkError> {
        let value = legacy::loads(&self.key, LEGACY_RESOLVE_SALT, token.trim())
            .map_err(|_| LinkError::Invalid)?;
        serde_json::from_value(value).map_err(|_| LinkError::Invalid)
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    fn sign<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("link payloads always serialise");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(purpose, &payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    fn verify<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: &str,
        token: &str,
    ) -> Result<T, LinkError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(LinkError::Missing);
        }
        let (payload, signature) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Invalid)?;
        // constant-time comparison
        self.mac(purpose, payload)
            .verify_slice(&signature)
            .map_err(|_| LinkError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Invalid)?;
        serde_json::from_slice(&json).map_err(|_| LinkError::Invalid)
    }
}

/// `<scheme>://<PUBLIC_HOST><path>?token=<token>`; tokens are URL-safe as they are.
pub fn build_url(scheme: &str, public_host: &str, path: &str, token: &str) -> String {
    format!("{scheme}://{public_host}{path}?token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_links_round_trip_and_are_purpose_bound() {
        let signer = LinkSigner::new("s3cret");
        let link = PasswordLink {
            user_id: 7,
            counter: 2,
            kind: PasswordLinkKind::Set,
            issued_at: 1_700_000_000,
        };
        let token = signer.sign_password(&link);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(signer.verify_password(&token), Ok(link));
        assert_eq!(signer.verify_resolve(&token), Err(LinkError::Invalid));
        assert_eq!(
            LinkSigner::new("other").verify_password(&token),
            Err(LinkError::Invalid)
        );
        assert_eq!(signer.verify_password(""), Err(LinkError::Missing));
        assert_eq!(signer.verify_password("garbage"), Err(LinkError::Invalid));
        let mut tampered = token.clone();
        tampered.insert(0, 'x');
        assert_eq!(signer.verify_password(&tampered), Err(LinkError::Invalid));
    }

    #[test]
    fn new_links_are_never_old_links() {
        let signer = LinkSigner::new("s3cret");
        let token = signer.sign_resolve(&ResolveLink {
            admin_id: 1,
            form_id: 7,
            issued_at: 1_700_000_000,
        });
        assert_eq!(
            signer.verify_legacy_resolve(&token),
            Err(LinkError::Invalid)
        );
        // itsdangerous 1.1: URLSafeSerializer("s3cret", salt="form-resolution")
        //   .dumps({"username": "root", "form_id": 7})
        let old = "eyJ1c2VybmFtZSI6InJvb3QiLCJmb3JtX2lkIjo3fQ._oeLVxnIKUoj_k0LHz9FKmEsNJg";
        assert_eq!(signer.verify_resolve(old), Err(LinkError::Invalid));
        assert_eq!(
            signer.verify_legacy_resolve(old),
            Ok(LegacyResolveLink {
                username: "root".into(),
                form_id: 7
            })
        );
    }
}
