//! The e-mailed password links (contract section 5): checking one, and setting a
//! password with it exactly once.

use crate::AppState;
use crate::app::error::AppError;
use crate::domain::legacy::ItsDangerousError;
use crate::domain::links::{LinkError, PasswordLink, PasswordLinkKind};
use crate::domain::user::{MAX_PASSWORD_CHARS, User, UserId};
use crate::domain::{now, passwords};
use crate::store::{flask_import, users};

/// Why a password link was refused; `Display` is the text the 422 page shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("No token provided")]
    Missing,
    #[error("This token is invalid")]
    Invalid,
    #[error("This token has already been used")]
    Used,
    #[error("This token has expired")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordPageError {
    #[error("refused: {0}")]
    Refused(LinkRefusal),
    /// The password field failed; the link stays usable.
    #[error("bad password: {0}")]
    BadPassword(String),
    #[error(transparent)]
    Internal(#[from] AppError),
}

fn internal(e: impl Into<AppError>) -> PasswordPageError {
    PasswordPageError::Internal(e.into())
}

/// A valid password link and its user.
pub async fn check_password_link(
    state: &AppState,
    token: Option<&str>,
) -> Result<(User, PasswordLink), PasswordPageError> {
    let refuse = |r| Err(PasswordPageError::Refused(r));
    let token = token.unwrap_or_default();
    let link = match state.links.verify_password(token) {
        Ok(link) => link,
        Err(LinkError::Missing) => return refuse(LinkRefusal::Missing),
        Err(LinkError::Invalid) => legacy_password_link(state, token).await?,
    };
    let user = users::find_by_id(&state.db.pool, UserId(link.user_id))
        .await
        .map_err(internal)?;
    let Some(user) = user else {
        return refuse(LinkRefusal::Invalid);
    };
    if user.password_link_counter != link.counter {
        return refuse(LinkRefusal::Used);
    }
    let window = match link.kind {
        PasswordLinkKind::Set => state.config.links.setup_window,
        PasswordLinkKind::Reset => state.config.links.reset_window,
    };
    if now() - link.issued_at > window {
        return refuse(LinkRefusal::Expired);
    }
    Ok((user, link))
}

/// A link e-mailed by the Flask service, as one of ours (a reset link for the counter it
/// names), on deployments imported from it; refused as invalid everywhere else.
async fn legacy_password_link(
    state: &AppState,
    token: &str,
) -> Result<PasswordLink, PasswordPageError> {
    let invalid = || PasswordPageError::Refused(LinkRefusal::Invalid);
    // The signature before the marker: a token that is no old link costs no query.
    let window = state.config.links.reset_window;
    let old = match state.links.verify_legacy_password(token, window, now()) {
        Err(ItsDangerousError::BadSignature) => return Err(invalid()),
        signed => signed,
    };
    if !flask_import::came_from_flask(&state.db.pool)
        .await
        .map_err(internal)?
    {
        return Err(invalid());
    }
    let old = old.map_err(|_| PasswordPageError::Refused(LinkRefusal::Expired))?;
    let user = users::find_by_username(&state.db.pool, &old.username)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    Ok(PasswordLink {
        user_id: user.id.0,
        counter: old.token_id,
        kind: PasswordLinkKind::Reset,
        issued_at: old.issued_at,
    })
}

/// The password the page's form sent, or the page's message.
fn page_password(password: Option<String>) -> Result<String, PasswordPageError> {
    let refuse = |m: String| Err(PasswordPageError::BadPassword(m));
    match password {
        None => refuse("Please enter a password.".into()),
        Some(p) if p.is_empty() => refuse("Please enter a password.".into()),
        Some(p) if p.chars().count() > MAX_PASSWORD_CHARS => refuse(format!(
            "The password may be at most {MAX_PASSWORD_CHARS} characters long."
        )),
        Some(p) => Ok(p),
    }
}

/// `POST /reset-password`: sets the password if the link is still the user's current one
/// (a conditional update, so a link works exactly once). Returns whether it was the
/// user's first password.
pub async fn set_password_with_link(
    state: &AppState,
    token: Option<&str>,
    password: Option<String>,
) -> Result<bool, PasswordPageError> {
    let (user, link) = check_password_link(state, token).await?;
    let password = page_password(password)?;
    let hash = passwords::hash(password).await.map_err(internal)?;
    let mut conn = state.db.acquire().await.map_err(internal)?;
    let set = users::set_password(&mut conn, user.id, &hash, Some(link.counter))
        .await
        .map_err(internal)?;
    if !set {
        return Err(PasswordPageError::Refused(LinkRefusal::Used));
    }
    Ok(!user.has_password())
}
