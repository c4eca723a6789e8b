//! Sessions: contract sections 2 and 3. Who is calling, logging in, tokens, the
//! caller's own profile and password.

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::AppState;
use crate::app::error::AppError;
use crate::domain::form::FormsVersion;
use crate::domain::jwt::{Claims, TokenType};
use crate::domain::now;
use crate::domain::passwords;
use crate::domain::refusal::Refusal;
use crate::domain::user::{Credentials, NewPassword, User};
use crate::store::{revoked, users};

/// The caller of an authenticated request: the verified claims and the user as the
/// database has it now.
#[derive(Debug)]
pub struct Caller {
    pub claims: Claims,
    pub user: User,
}

/// Verifies a bearer token (`wanted` kind, or either kind when `None`), then checks
/// revocation and reads the user live.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    wanted: Option<TokenType>,
) -> Result<Caller, AppError> {
    let claims = verify(state, token, wanted)?;
    let found = state
        .db
        .run(async |conn| users::find_for_token(conn, &claims.identity, &claims.jti).await)
        .await?;
    caller(claims, found)
}

/// [`authenticate`] with an access token, and the forms' version read in the same
/// statement (`GET /form`; `None` if its row is missing).
pub async fn authenticate_with_forms_version(
    state: &AppState,
    token: &str,
) -> Result<(Caller, Option<FormsVersion>), AppError> {
    let claims = verify(state, token, Some(TokenType::Access))?;
    let (found, version) = state
        .db
        .run(async |conn| {
            users::find_for_token_with_forms_version(conn, &claims.identity, &claims.jti).await
        })
        .await?;
    Ok((caller(claims, found)?, version))
}

fn verify(state: &AppState, token: &str, wanted: Option<TokenType>) -> Result<Claims, AppError> {
    let now = now();
    Ok(match wanted {
        Some(kind) => state.jwt.verify(token, kind, now)?,
        None => state.jwt.verify_any(token, now)?,
    })
}

/// The token's user as found, unless the token was revoked or the user is gone.
fn caller(claims: Claims, (user, revoked): (Option<User>, bool)) -> Result<Caller, AppError> {
    if revoked {
        return Err(Refusal::TokenRevoked.into());
    }
    let user = user.ok_or_else(|| Refusal::TokenUserGone(claims.identity.clone()))?;
    Ok(Caller { claims, user })
}

/// [`authenticate`] with an access token whose user is currently an admin.
pub async fn authenticate_admin(state: &AppState, token: &str) -> Result<Caller, AppError> {
    let caller = authenticate(state, token, Some(TokenType::Access)).await?;
    if !caller.user.is_admin {
        return Err(Refusal::AdminRequired.into());
    }
    Ok(caller)
}

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

fn issue(state: &AppState, username: &str, kind: TokenType) -> Result<String, AppError> {
    let lifetime = match kind {
        TokenType::Access => state.config.tokens.access_expiry,
        TokenType::Refresh => state.config.tokens.refresh_expiry,
    };
    state
        .jwt
        .issue(username, kind, lifetime, now())
        .map_err(|e| AppError::Internal(Box::new(e)))
}

/// `POST /auth/login`. Unknown users cost one dummy hash, like a wrong password.
pub fn login<'a>(
    state: &'a AppState,
    credentials: Credentials,
) -> BoxFuture<'a, Result<TokenPair, AppError>> {
    Box::pin(async move {
        let Credentials { username, password } = credentials;
        // Known user or not, whether the deployment was imported: it decides what the check costs.
        let (user, imported) = state
            .db
            .run(async |conn| users::find_for_login(conn, &username).await)
            .await?;
        if user.as_ref().is_some_and(|u| !u.has_password()) {
            return Err(Refusal::OwnPasswordNotSet.into());
        }
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let empty = password.is_empty();
        let check = passwords::verify_login(password, stored.clone(), imported).await?;
        match user {
            Some(user) if check.matches && !empty => {
                if let (Some(new_hash), Some(old_hash)) = (&check.upgraded_hash, &stored) {
                    users::upgrade_password_hash(&state.db.pool, user.id, old_hash, new_hash)
                        .await?;
                }
                Ok(TokenPair {
                    access_token: issue(state, &user.username, TokenType::Access)?,
                    refresh_token: issue(state, &user.username, TokenType::Refresh)?,
                })
            }
            _ => Err(Refusal::InvalidCredentials.into()),
        }
    })
}

#[derive(Debug, Serialize)]
pub struct Profile {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub is_admin: bool,
    pub registration_time: i64,
    pub forms: Vec<i64>,
}

/// `GET /auth/login`: [`authenticate`] with an access token, and the caller's forms read in
/// the same statement.
pub fn whoami<'a>(state: &'a AppState, token: &'a str) -> BoxFuture<'a, Result<Profile, AppError>> {
    Box::pin(async move {
        let claims = verify(state, token, Some(TokenType::Access))?;
        let (found, forms) = state
            .db
            .run(async |conn| {
                users::find_for_token_with_forms(conn, &claims.identity, &claims.jti).await
            })
            .await?;
        let user = caller(claims, found)?.user;
        Ok(Profile {
            is_admin: user.is_admin,
            id: user.id.0,
            username: user.username,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            registration_time: user.registration_time,
            forms,
        })
    })
}

/// `PUT /auth/login`: the caller's own password. Outstanding links die with the change.
pub fn change_password<'a>(
    state: &'a AppState,
    user: &'a User,
    password: NewPassword,
) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        let hash = passwords::hash(password.into_inner()).await?;
        let mut conn = state.db.acquire().await?;
        users::set_password(&mut conn, user.id, &hash, None).await?;
        Ok(())
    })
}

/// `POST /auth/token`: a new access token for a refresh token's user.
pub fn refresh(state: &AppState, caller: &Caller) -> Result<String, AppError> {
    issue(state, &caller.user.username, TokenType::Access)
}

/// `DELETE /auth/token`: revokes exactly the presented token.
pub fn revoke<'a>(state: &'a AppState, caller: &'a Caller) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        revoked::revoke(&state.db.pool, &caller.claims.jti, caller.claims.exp).await?;
        Ok(())
    })
}
