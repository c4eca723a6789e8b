//! The e-mailed password links (contract section 5): checking one, and setting a
//! password with it exactly once.

use futures_util::future::BoxFuture;

use crate::AppState;
use crate::app::error::AppError;
use crate::domain::legacy::ItsDangerousError;
use crate::domain::links::{LinkError, PasswordLink, PasswordLinkKind};
use crate::domain::now;
use crate::domain::passwords::{self, PasswordError};
use crate::domain::refusal::LinkRefusal;
use crate::domain::user::{MAX_PASSWORD_CHARS, User, UserId};
use crate::store::db::DbError;
use crate::store::{flask_import, users};

#[derive(Debug, thiserror::Error)]
pub enum PasswordPageError {
    #[error("refused: {0}")]
    Refused(#[from] LinkRefusal),
    #[error(transparent)]
    Internal(#[from] AppError),
}

impl From<DbError> for PasswordPageError {
    fn from(e: DbError) -> Self {
        PasswordPageError::Internal(e.into())
    }
}

impl From<PasswordError> for PasswordPageError {
    fn from(e: PasswordError) -> Self {
        PasswordPageError::Internal(e.into())
    }
}

/// What a `POST /reset-password` with a valid link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSet {
    /// Saved; whether it was the user's first password.
    Saved { first_password: bool },
    /// The password field failed: the page's message. The link stays usable.
    Refused { message: String, has_password: bool },
}

/// A valid password link and its user.
pub fn check_password_link<'a>(
    state: &'a AppState,
    token: Option<&'a str>,
) -> BoxFuture<'a, Result<(User, PasswordLink), PasswordPageError>> {
    Box::pin(async move {
        let token = token.unwrap_or_default();
        let link = match state.links.verify_password(token) {
            Ok(link) => link,
            Err(LinkError::Missing) => return Err(LinkRefusal::Missing.into()),
            Err(LinkError::Invalid) => legacy_password_link(state, token).await?,
        };
        let user = users::find_by_id(&state.db.pool, UserId(link.user_id))
            .await?
            .ok_or(LinkRefusal::Invalid)?;
        if user.password_link_counter != link.counter {
            return Err(LinkRefusal::Used.into());
        }
        let window = match link.kind {
            PasswordLinkKind::Set => state.config.links.setup_window,
            PasswordLinkKind::Reset => state.config.links.reset_window,
        };
        if now() - link.issued_at > window {
            return Err(LinkRefusal::Expired.into());
        }
        Ok((user, link))
    })
}

/// A link e-mailed by the Flask service, as one of ours (a reset link for the counter it
/// names), on deployments imported from it; refused as invalid everywhere else.
async fn legacy_password_link(
    state: &AppState,
    token: &str,
) -> Result<PasswordLink, PasswordPageError> {
    // The signature before the marker: a token that is no old link costs no query.
    let window = state.config.links.reset_window;
    let old = match state.links.verify_legacy_password(token, window, now()) {
        Err(ItsDangerousError::BadSignature) => return Err(LinkRefusal::Invalid.into()),
        signed => signed,
    };
    if !flask_import::came_from_flask(&state.db.pool).await? {
        return Err(LinkRefusal::Invalid.into());
    }
    let old = old.map_err(|_| LinkRefusal::Expired)?;
    let user = users::find_by_username(&state.db.pool, &old.username)
        .await?
        .ok_or(LinkRefusal::Invalid)?;
    Ok(PasswordLink {
        user_id: user.id.0,
        counter: old.token_id,
        kind: PasswordLinkKind::Reset,
        issued_at: old.issued_at,
    })
}

/// The password the page's form sent, or the page's message.
fn page_password(password: Option<String>) -> Result<String, String> {
    match password {
        None => Err("Please enter a password.".into()),
        Some(p) if p.is_empty() => Err("Please enter a password.".into()),
        Some(p) if p.chars().count() > MAX_PASSWORD_CHARS => Err(format!(
            "The password may be at most {MAX_PASSWORD_CHARS} characters long."
        )),
        Some(p) => Ok(p),
    }
}

/// `POST /reset-password`: sets the password if the link is still the user's current one
/// (a conditional update, so a link works exactly once). A refused link wins over a
/// refused password.
pub fn set_password_with_link<'a>(
    state: &'a AppState,
    token: Option<&'a str>,
    password: Option<String>,
) -> BoxFuture<'a, Result<PasswordSet, PasswordPageError>> {
    Box::pin(async move {
        let (user, link) = check_password_link(state, token).await?;
        let password = match page_password(password) {
            Ok(password) => password,
            Err(message) => {
                let has_password = user.has_password();
                return Ok(PasswordSet::Refused {
                    message,
                    has_password,
                });
            }
        };
        let hash = passwords::hash(password).await?;
        let mut conn = state.db.acquire().await?;
        if !users::set_password(&mut conn, user.id, &hash, Some(link.counter)).await? {
            return Err(LinkRefusal::Used.into());
        }
        Ok(PasswordSet::Saved {
            first_password: !user.has_password(),
        })
    })
}
