//! How a use case ends when it does not succeed: refused for a reason the contract
//! words, or failed for a reason only the log may see.

use crate::domain::jwt::TokenError;
use crate::domain::passwords::PasswordError;
use crate::domain::refusal::Refusal;
use crate::store::db::DbError;

/// An unexpected failure, its cause chain kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl AppError {
    /// An invariant that did not hold, e.g. a row missing inside its own transaction.
    pub fn bug(what: &str) -> Self {
        AppError::Internal(what.into())
    }
}

impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        AppError::Refused(Refusal::Token(e))
    }
}

macro_rules! internal_from {
    ($($source:ty),*) => {$(
        impl From<$source> for AppError {
            fn from(e: $source) -> Self {
                AppError::Internal(Box::new(e))
            }
        }
    )*};
}

internal_from!(DbError, PasswordError);
