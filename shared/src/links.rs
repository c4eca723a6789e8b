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

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("No token provided")]
    Missing,
    #[error("This token is invalid")]
    Invalid,
}

const PASSWORD_PURPOSE: &str = "password";
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
}
