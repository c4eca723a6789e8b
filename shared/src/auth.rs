//! Accounts and sessions: contract sections 2 and 3, the password half of section 5 and
//! the root user of section 8.

use lambda_http::http::HeaderMap;
use lambda_http::http::header::AUTHORIZATION;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::AppState;
use crate::db::now;
use crate::email_templates::{self, Recipient, RenderedEmail};
use crate::http::ApiError;
use crate::jwt::{Claims, TokenError, TokenType};
use crate::legacy::ItsDangerousError;
use crate::links::{self, LinkError, PasswordLink, PasswordLinkKind};
use crate::users::{self, NewUser, User};
use crate::validate::{Input, normalize_email, schema_error};
use crate::{flask_import, outbox, passwords};

/// Passwords longer than this are refused before hashing, to bound the work one request
/// can ask for.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The caller of an authenticated request: the verified claims and the user as the
/// database has it now.
#[derive(Debug)]
pub struct Caller {
    pub claims: Claims,
    pub user: User,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        if e.is_unauthorized() {
            ApiError::Unauthorized(e.to_string())
        } else {
            ApiError::Unprocessable(e.to_string())
        }
    }
}

impl From<passwords::PasswordError> for ApiError {
    fn from(e: passwords::PasswordError) -> Self {
        ApiError::internal(e)
    }
}

/// The `Bearer` token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    // An empty header counts as absent, as in the old service (`if not auth_header`).
    let value = headers
        .get(AUTHORIZATION)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .ok_or_else(|| ApiError::Unauthorized("Missing Authorization Header".into()))?;
    let bad = || {
        ApiError::Unprocessable("Bad Authorization header. Expected value 'Bearer <JWT>'".into())
    };
    let value = value.to_str().map_err(|_| bad())?;
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("Bearer"), Some(token), None) => Ok(token),
        _ => Err(bad()),
    }
}

/// Verifies the request's token (`wanted` kind, or either kind when `None`), then checks
/// revocation and reads the user live.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    wanted: Option<TokenType>,
) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    let now = now();
    let claims = match wanted {
        Some(kind) => state.jwt.verify(token, kind, now)?,
        None => state.jwt.verify_any(token, now)?,
    };
    let revoked: Option<i64> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = ?")
        .bind(&claims.jti)
        .fetch_optional(&state.db.pool)
        .await?;
    if revoked.is_some() {
        return Err(ApiError::Unauthorized("Token has been revoked".into()));
    }
    let user = users::find_by_username(&state.db.pool, &claims.identity)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "User {} specified by token does not exist",
                claims.identity
            ))
        })?;
    Ok(Caller { claims, user })
}

/// [`authenticate`] with an access token whose user is currently an admin.
pub async fn authenticate_admin(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let caller = authenticate(state, headers, Some(TokenType::Access)).await?;
    if !caller.user.is_admin() {
        return Err(ApiError::Unauthorized(
            "This endpoint requires admin status".into(),
        ));
    }
    Ok(caller)
}

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

fn issue(state: &AppState, username: &str, kind: TokenType) -> Result<String, ApiError> {
    let lifetime = match kind {
        TokenType::Access => state.config.jwt_access_expiry,
        TokenType::Refresh => state.config.jwt_refresh_expiry,
    };
    state
        .jwt
        .issue(username, kind, lifetime, now())
        .map_err(ApiError::internal)
}

/// `POST /auth/login`. Unknown users cost one dummy hash, like a wrong password.
pub async fn login(state: &AppState, body: &Map<String, Value>) -> Result<TokenPair, ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", Some(128), true);
    let password = input.string("password", None, true);
    input.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());

    // Known user or not, whether the deployment was imported: it decides what the check costs.
    let (user, imported) = users::find_for_login(&state.db.pool, &username).await?;
    if let Some(user) = &user
        && !user.has_password()
    {
        return Err(ApiError::BadRequest("Your password is not set".into()));
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let check = passwords::verify_login(password.clone(), stored.clone(), imported).await?;
    match user {
        Some(user) if check.matches && !password.is_empty() => {
            if let (Some(new_hash), Some(old_hash)) = (&check.upgraded_hash, &stored) {
                users::upgrade_password_hash(&state.db.pool, user.id, old_hash, new_hash).await?;
            }
            Ok(TokenPair {
                access_token: issue(state, &user.username, TokenType::Access)?,
                refresh_token: issue(state, &user.username, TokenType::Refresh)?,
            })
        }
        _ => Err(ApiError::Unauthorized("Invalid credentials".into())),
    }
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

/// `GET /auth/login`.
pub async fn profile(state: &AppState, user: User) -> Result<Profile, ApiError> {
    let forms = users::form_ids(&state.db.pool, user.id).await?;
    Ok(Profile {
        is_admin: user.is_admin(),
        id: user.id,
        username: user.username,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        registration_time: user.registration_time,
        forms,
    })
}

/// A new password from a request body or form: present, a string, not empty, bounded.
fn new_password(input: &mut Input) -> Option<String> {
    let password = input.string("password", Some(MAX_PASSWORD_CHARS), true)?;
    if password.is_empty() {
        input.fail("password", "Shorter than minimum length 1.");
        return None;
    }
    Some(password)
}

/// `PUT /auth/login`: the caller's own password. Outstanding links die with the change.
pub async fn change_password(
    state: &AppState,
    user: &User,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut input = Input::new(body);
    let password = new_password(&mut input);
    input.finish()?;
    let hash = passwords::hash(password.unwrap_or_default()).await?;
    let mut conn = state.db.pool.acquire().await?;
    users::set_password(&mut conn, user.id, &hash, None).await?;
    Ok(())
}

/// Where links point: `PUBLIC_HOST`, with the scheme the request came in on.
#[derive(Debug, Clone)]
pub struct LinkBase {
    pub scheme: String,
}

impl LinkBase {
    /// `X-Forwarded-Proto` from the proxy in front (nginx, API Gateway), else plain http.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let forwarded = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let scheme = match forwarded.as_deref() {
            Some("https") => "https",
            _ => "http",
        };
        Self {
            scheme: scheme.into(),
        }
    }

    pub fn url(&self, state: &AppState, path: &str, token: &str) -> String {
        links::build_url(&self.scheme, &state.config.public_host, path, token)
    }

    pub fn logo(&self, state: &AppState) -> String {
        format!(
            "{}://{}/static/logo.png",
            self.scheme, state.config.public_host
        )
    }
}

fn recipient(user: &User) -> Recipient<'_> {
    Recipient {
        first_name: &user.first_name,
        last_name: user.last_name.as_deref(),
        email: &user.email,
    }
}

/// The e-mail with a fresh password link for `user`, whose counter is `counter`.
fn password_email(
    state: &AppState,
    base: &LinkBase,
    user: &User,
    counter: i64,
    kind: PasswordLinkKind,
) -> RenderedEmail {
    let token = state.links.sign_password(&PasswordLink {
        user_id: user.id,
        counter,
        kind,
        issued_at: now(),
    });
    let link = base.url(state, "/reset-password", &token);
    let logo = base.logo(state);
    match kind {
        PasswordLinkKind::Set => {
            email_templates::registration(&recipient(user), &user.username, &link, &logo)
        }
        PasswordLinkKind::Reset => {
            email_templates::password_reset(&recipient(user), &user.username, &link, &logo)
        }
    }
}

/// `PATCH /auth/login`: e-mail a reset link; every earlier link dies.
pub async fn request_password_reset(
    state: &AppState,
    base: &LinkBase,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", None, true);
    input.finish()?;
    let username = username.unwrap_or_default();

    let mut tx = state.db.begin_write().await?;
    let user = users::find_by_username(&mut *tx, &username)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("User {username} does not exist")))?;
    if !user.has_password() {
        return Err(ApiError::BadRequest(format!(
            "User {username}'s password has not been set"
        )));
    }
    let counter = users::next_link_counter(&mut tx, user.id).await?;
    let email = password_email(state, base, &user, counter, PasswordLinkKind::Reset);
    outbox::enqueue(&mut tx, &email, now()).await?;
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    Ok(())
}

/// `POST /auth/register`: the user and the set-password e-mail, in one transaction.
pub async fn register(
    state: &AppState,
    base: &LinkBase,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut input = Input::new(body);
    let username = input.name("username", Some(128), true);
    let email = input.name("email", Some(128), true);
    let is_admin = input.boolean("is_admin", true);
    let first_name = input.name("first_name", Some(64), true);
    let last_name = input.nullable_name("last_name", Some(64));
    // An address that is not valid is a whole-object error, and those hide field errors.
    let email = email
        .map(|email| normalize_email(&email))
        .transpose()
        .map_err(schema_error)?;
    input.finish()?;
    let (username, email, is_admin, first_name) = (
        username.unwrap_or_default(),
        email.unwrap_or_default(),
        is_admin.unwrap_or_default(),
        first_name.unwrap_or_default(),
    );
    let last_name = last_name.flatten();

    let mut tx = state.db.begin_write().await?;
    let taken = || ApiError::BadRequest(format!("User {username} already exists"));
    let email_taken = || ApiError::BadRequest(format!("A user with email {email} already exists"));
    if users::find_by_username(&mut *tx, &username)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    if users::email_taken(&mut *tx, &email).await? {
        return Err(email_taken());
    }
    let new_user = NewUser {
        username: &username,
        email: &email,
        first_name: &first_name,
        last_name: last_name.as_deref(),
        is_admin,
        password_hash: None,
        registration_time: now(),
    };
    let id = match users::insert(&mut tx, &new_user).await {
        Ok(id) => id,
        // Lost a race with a concurrent registration of the same name or address.
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            return Err(
                if users::find_by_username(&state.db.pool, &username)
                    .await?
                    .is_some()
                {
                    taken()
                } else {
                    email_taken()
                },
            );
        }
        Err(e) => return Err(e.into()),
    };
    let user = users::find_by_id(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::internal("the user just inserted is missing"))?;
    let email = password_email(
        state,
        base,
        &user,
        user.password_link_counter,
        PasswordLinkKind::Set,
    );
    outbox::enqueue(&mut tx, &email, now()).await?;
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    Ok(())
}

/// `POST /auth/token`: a new access token for a refresh token's user.
pub fn refresh(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    issue(state, &caller.user.username, TokenType::Access)
}

/// `DELETE /auth/token`: revokes exactly the presented token.
pub async fn revoke(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let result = sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
        .bind(&caller.claims.jti)
        .bind(caller.claims.exp)
        .execute(&state.db.pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        // revoked concurrently by another request: the outcome is the same
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `PATCH /auth/access`: set a user's admin flag; read live, so it applies at once.
pub async fn set_access(state: &AppState, body: &Map<String, Value>) -> Result<(), ApiError> {
    let mut input = Input::new(body);
    let username = input.string("username", None, true);
    let is_admin = input.boolean("is_admin", false);
    input.finish()?;
    let username = username.unwrap_or_default();
    let user = users::find_by_username(&state.db.pool, &username)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("User '{username}' does not exist")))?;
    if let Some(is_admin) = is_admin {
        users::set_admin(&state.db.pool, user.id, is_admin).await?;
    }
    Ok(())
}

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

#[derive(Debug)]
pub enum PasswordPageError {
    Refused(LinkRefusal),
    /// The password field failed; the link stays usable.
    BadPassword(String),
    Internal(ApiError),
}

impl From<ApiError> for PasswordPageError {
    fn from(e: ApiError) -> Self {
        PasswordPageError::Internal(e)
    }
}

impl From<crate::db::DbError> for PasswordPageError {
    fn from(e: crate::db::DbError) -> Self {
        PasswordPageError::Internal(e.into())
    }
}

impl From<sqlx::Error> for PasswordPageError {
    fn from(e: sqlx::Error) -> Self {
        PasswordPageError::Internal(e.into())
    }
}

impl From<passwords::PasswordError> for PasswordPageError {
    fn from(e: passwords::PasswordError) -> Self {
        PasswordPageError::Internal(e.into())
    }
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
    let Some(user) = users::find_by_id(&state.db.pool, link.user_id).await? else {
        return refuse(LinkRefusal::Invalid);
    };
    if user.password_link_counter != link.counter {
        return refuse(LinkRefusal::Used);
    }
    let window = match link.kind {
        PasswordLinkKind::Set => state.config.pw_setup_window,
        PasswordLinkKind::Reset => state.config.pw_reset_window,
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
    let old = match state
        .links
        .verify_legacy_password(token, state.config.pw_reset_window, now())
    {
        Err(ItsDangerousError::BadSignature) => return Err(invalid()),
        signed => signed,
    };
    if !flask_import::came_from_flask(&state.db.pool).await? {
        return Err(invalid());
    }
    let old = old.map_err(|_| PasswordPageError::Refused(LinkRefusal::Expired))?;
    let user = users::find_by_username(&state.db.pool, &old.username)
        .await?
        .ok_or_else(invalid)?;
    Ok(PasswordLink {
        user_id: user.id,
        counter: old.token_id,
        kind: PasswordLinkKind::Reset,
        issued_at: old.issued_at,
    })
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
    let password = match password {
        None => {
            return Err(PasswordPageError::BadPassword(
                "Please enter a password.".into(),
            ));
        }
        Some(p) if p.is_empty() => {
            return Err(PasswordPageError::BadPassword(
                "Please enter a password.".into(),
            ));
        }
        Some(p) if p.chars().count() > MAX_PASSWORD_CHARS => {
            return Err(PasswordPageError::BadPassword(format!(
                "The password may be at most {MAX_PASSWORD_CHARS} characters long."
            )));
        }
        Some(p) => p,
    };
    let hash = passwords::hash(password).await?;
    let mut conn = state.db.pool.acquire().await?;
    if !users::set_password(&mut conn, user.id, &hash, Some(link.counter)).await? {
        return Err(PasswordPageError::Refused(LinkRefusal::Used));
    }
    Ok(!user.has_password())
}

/// Root bootstrap (contract section 8): on first start a `root` admin exists. With
/// `ROOT_PASSWORD` it gets that password; otherwise the registration e-mail. Idempotent,
/// and a lost race with another cold start is not an error.
pub async fn ensure_root(state: &AppState) -> Result<(), ApiError> {
    if users::find_by_username(&state.db.pool, "root")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let password_hash = match &state.config.root_password {
        Some(p) => Some(passwords::hash(p.clone()).await?),
        None => None,
    };
    // A local address such as root@localhost is fine for development: only normalise.
    let root_email = normalize_email(&state.config.root_email)
        .unwrap_or_else(|_| state.config.root_email.trim().to_string());
    let mut tx = state.db.begin_write().await?;
    let new_root = NewUser {
        username: "root",
        email: &root_email,
        first_name: "Administrator",
        last_name: None,
        is_admin: true,
        password_hash: password_hash.as_deref(),
        registration_time: now(),
    };
    match users::insert(&mut tx, &new_root).await {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    if password_hash.is_none() {
        let root = users::find_by_username(&mut *tx, "root")
            .await?
            .ok_or_else(|| ApiError::internal("root vanished inside its own transaction"))?;
        let base = LinkBase {
            scheme: state.config.public_scheme.clone(),
        };
        let email = password_email(state, &base, &root, 0, PasswordLinkKind::Set);
        outbox::enqueue(&mut tx, &email, now()).await?;
    }
    tx.commit().await?;
    state.notifier.outbox_changed().await;
    tracing::info!("created the root user");
    Ok(())
}
