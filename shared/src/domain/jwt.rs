//! JWTs per contract section 2: HS256 only, the exact claim set, and verification in the
//! exact order (and with the exact messages) the app knows.
//!
//! `jsonwebtoken` signs and checks signatures; the shape, the pinned algorithm and the
//! claim checks are ours, because their order and wording are part of the contract.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    // Our own tokens always carry these; a token signed elsewhere with our secret may not.
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub nbf: i64,
    #[serde(default)]
    pub exp: i64,
    #[serde(default)]
    pub jti: String,
    pub identity: String,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh: Option<bool>,
}

/// Why a token was refused; `Display` is the contract's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// 422: malformed token, with a short description.
    #[error("{0}")]
    Malformed(String),
    #[error("Signature verification failed")]
    BadSignature,
    #[error("The specified alg value is not allowed")]
    AlgorithmNotAllowed,
    #[error("The token is not yet valid (nbf)")]
    NotYetValid,
    #[error("Missing claim: identity")]
    MissingIdentity,
    #[error("Missing or invalid claim: type")]
    InvalidType,
    /// 401.
    #[error("Token has expired")]
    Expired,
    #[error("Only access tokens are allowed")]
    AccessOnly,
    #[error("Only refresh tokens are allowed")]
    RefreshOnly,
}

impl TokenError {
    /// Expired tokens are a 401; every other refusal here is a 422.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, TokenError::Expired)
    }
}

/// Signs and verifies with one key pair, built once per cold start.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        // Already installed by an earlier `new` in this process: the same provider.
        let _ = hs256::PROVIDER.install_default();
        // Only the signature is left to the crate: time and claim checks follow below, in
        // the contract's order and with no leeway.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    pub fn issue(
        &self,
        username: &str,
        token_type: TokenType,
        lifetime: i64,
        now: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iat: now,
            nbf: now,
            exp: now + lifetime,
            jti: random_id(),
            identity: username.to_string(),
            token_type,
            fresh: (token_type == TokenType::Access).then_some(false),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a token in the contract's order: shape, algorithm, signature, `nbf`, `exp`,
    /// `identity`, `type`, then the kind the endpoint wants.
    pub fn verify(&self, token: &str, wanted: TokenType, now: i64) -> Result<Claims, TokenError> {
        let segments: Vec<&str> = token.split('.').collect();
        if segments.len() != 3 {
            return Err(TokenError::Malformed(
                if segments.len() < 3 {
                    "Not enough segments"
                } else {
                    "Too many segments"
                }
                .into(),
            ));
        }
        let header = decode_segment(segments[0], "header")?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        decode_segment(segments[1], "payload")?;
        let payload: Value = jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                    TokenError::AlgorithmNotAllowed
                }
                _ => TokenError::Malformed("Invalid token".into()),
            })?
            .claims;

        let int_claim = |name: &str| -> Result<Option<i64>, TokenError> {
            match payload.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| TokenError::Malformed(format!("{name} must be an integer"))),
            }
        };
        if int_claim("nbf")?.is_some_and(|nbf| nbf > now) {
            return Err(TokenError::NotYetValid);
        }
        if int_claim("exp")?.is_some_and(|exp| exp <= now) {
            return Err(TokenError::Expired);
        }
        let claims: Claims = match (payload.get("identity"), payload.get("type")) {
            (None, _) => return Err(TokenError::MissingIdentity),
            (_, None) => return Err(TokenError::InvalidType),
            _ => serde_json::from_value(payload.clone()).map_err(|_| {
                match payload.get("type").and_then(Value::as_str) {
                    Some("access" | "refresh") => TokenError::MissingIdentity,
                    _ => TokenError::InvalidType,
                }
            })?,
        };
        match (wanted, claims.token_type) {
            (TokenType::Access, TokenType::Refresh) => Err(TokenError::AccessOnly),
            (TokenType::Refresh, TokenType::Access) => Err(TokenError::RefreshOnly),
            _ => Ok(claims),
        }
    }

    /// Verifies a token of either kind (log-out takes both).
    pub fn verify_any(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        match self.verify(token, TokenType::Access, now) {
            Err(TokenError::AccessOnly) => self.verify(token, TokenType::Refresh, now),
            other => other,
        }
    }
}

fn decode_segment(segment: &str, what: &str) -> Result<Value, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed(format!("Invalid {what} padding")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed(format!("Invalid {what} string")))
}

/// 128 random bits, hex: token ids and worker ids.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// jsonwebtoken's cryptography for the one algorithm our tokens use (`Validation` pins
/// HS256 before any signature is checked). The crate's `rust_crypto` provider would link
/// RSA, ECDSA and EdDSA into every function that reads a token: code no token here can
/// reach, about 300 KiB each.
mod hs256 {
    use hmac::{Hmac, KeyInit, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{Error, ErrorKind};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;

    pub static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };

    struct Hs256(Hmac<Sha256>);

    impl Hs256 {
        fn new(algorithm: &Algorithm, secret: &[u8]) -> Result<Self, Error> {
            if *algorithm != Algorithm::HS256 {
                return Err(ErrorKind::InvalidAlgorithm.into());
            }
            let mac = Hmac::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?;
            Ok(Self(mac))
        }

        fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
            let mut mac = self.0.clone();
            mac.update(message);
            mac
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
        Ok(Box::new(Hs256::new(algorithm, key.as_bytes())?))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
        Ok(Box::new(Hs256::new(algorithm, key.try_get_as_bytes()?)?))
    }

    impl signature::Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
            Ok(self.mac(message).finalize().into_bytes().to_vec())
        }
    }

    impl signature::Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
            // constant-time comparison
            self.mac(message)
                .verify_slice(tag)
                .map_err(|_| signature::Error::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn keys() -> JwtKeys {
        JwtKeys::new("test-secret")
    }

    fn forge(header: &str, payload: &str, sign_with: Option<&str>) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let sig = match sign_with {
            None => String::new(),
            Some(secret) => {
                use hmac::{KeyInit, Mac};
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{h}.{p}").as_bytes());
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            }
        };
        format!("{h}.{p}.{sig}")
    }

    #[test]
    fn the_hs256_provider_agrees_with_a_published_token() {
        // jwt.io's HS256 example, signed elsewhere with "your-256-bit-secret"
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let keys = JwtKeys::new("your-256-bit-secret");
        let decoded = jsonwebtoken::decode::<Value>(token, &keys.decoding, &keys.validation);
        assert_eq!(decoded.unwrap().claims["name"], "John Doe");
        let tampered = token.replace(".Sfl", ".Tfl");
        let refused = jsonwebtoken::decode::<Value>(&tampered, &keys.decoding, &keys.validation);
        assert_eq!(
            refused.unwrap_err().kind(),
            &jsonwebtoken::errors::ErrorKind::InvalidSignature
        );
        let (message, published) = token.rsplit_once('.').unwrap();
        let signed =
            jsonwebtoken::crypto::sign(message.as_bytes(), &keys.encoding, Algorithm::HS256);
        assert_eq!(signed.unwrap(), published);
        // any other algorithm is refused by the provider itself, not only by `Validation`
        let rsa = (hs256::PROVIDER.verifier_factory)(&Algorithm::RS256, &keys.decoding);
        assert!(rsa.is_err());
    }

    #[test]
    fn issued_tokens_verify_with_the_contract_claims() {
        let token = keys().issue("alice", TokenType::Access, 900, NOW).unwrap();
        let claims = keys().verify(&token, TokenType::Access, NOW).unwrap();
        assert_eq!(claims.identity, "alice");
        assert_eq!((claims.iat, claims.nbf, claims.exp), (NOW, NOW, NOW + 900));
        assert_eq!(claims.fresh, Some(false));
        assert_eq!(claims.jti.len(), 32);
        let header = decode_segment(token.split('.').next().unwrap(), "header").unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "HS256"}));
    }

    #[test]
    fn refusals_carry_the_contract_messages() {
        let k = keys();
        let refresh = k.issue("a", TokenType::Refresh, 900, NOW).unwrap();
        let access = k.issue("a", TokenType::Access, 900, NOW).unwrap();
        assert_eq!(
            k.verify(&refresh, TokenType::Access, NOW)
                .unwrap_err()
                .to_string(),
            "Only access tokens are allowed"
        );
        assert_eq!(
            k.verify(&access, TokenType::Refresh, NOW)
                .unwrap_err()
                .to_string(),
            "Only refresh tokens are allowed"
        );
        assert_eq!(
            k.verify(&access, TokenType::Access, NOW + 900).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            k.verify("abc", TokenType::Access, NOW)
                .unwrap_err()
                .to_string(),
            "Not enough segments"
        );
        // A character inside the signature: the last one also carries padding bits, which
        // decoders ignore, so changing only those would leave the signature as it was.
        let at = access.len() - 10;
        let flipped = if &access[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &access[..at], &access[at + 1..]);
        assert_eq!(
            k.verify(&tampered, TokenType::Access, NOW).unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[test]
    fn only_hs256_is_accepted() {
        let payload = format!(r#"{{"identity":"a","type":"access","exp":{}}}"#, NOW + 60);
        let none = forge(r#"{"alg":"none","typ":"JWT"}"#, &payload, None);
        let hs512 = forge(
            r#"{"alg":"HS512","typ":"JWT"}"#,
            &payload,
            Some("test-secret"),
        );
        for token in [none, hs512] {
            assert_eq!(
                keys().verify(&token, TokenType::Access, NOW).unwrap_err(),
                TokenError::AlgorithmNotAllowed
            );
        }
    }

    #[test]
    fn claim_checks_follow_the_contract_order() {
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let check = |payload: String| {
            keys()
                .verify(
                    &forge(header, &payload, Some("test-secret")),
                    TokenType::Access,
                    NOW,
                )
                .unwrap_err()
        };
        // nbf before exp, exp before identity and type
        assert_eq!(
            check(format!(r#"{{"nbf":{},"exp":{}}}"#, NOW + 10, NOW - 10)),
            TokenError::NotYetValid
        );
        assert_eq!(
            check(format!(r#"{{"exp":{}}}"#, NOW - 1)),
            TokenError::Expired
        );
        assert_eq!(
            check(format!(r#"{{"exp":{},"type":"access"}}"#, NOW + 10)),
            TokenError::MissingIdentity
        );
        assert_eq!(
            check(format!(
                r#"{{"exp":{},"identity":"a","type":"weird"}}"#,
                NOW + 10
            )),
            TokenError::InvalidType
        );
    }
}
