//! Support for in-process handler tests (feature `testing`, dev-dependency only).
//!
//! Each function crate exposes `handle(state, request)`; its `tests/handler.rs` calls it
//! directly with a recorded API Gateway event, against a throwaway SQLite database, and
//! checks the exact answer. Nothing here is linked into a deployed binary.
//!
//! ```ignore
//! use shared::testing::{Event, TestApp, assert_message};
//!
//! #[tokio::test]
//! async fn wrong_password_is_invalid_credentials() {
//!     let app = TestApp::new().await; // temp dir, migrated, root created
//!     app.user("alice").await; // password `testing::USER_PASSWORD`
//!     let req = Event::fixture(env!("CARGO_MANIFEST_DIR"), "login_post.json")
//!         .with("body", r#"{"username": "alice", "password": "nope"}"#)
//!         .request();
//!     assert_message(&auth_login::handle(&app, req).await, 401, "Invalid credentials");
//! }
//! ```
//!
//! - [`TestApp`]: an [`AppState`] over a fresh SQLite file in a temp dir of its own (removed
//!   on drop), migrated, with the `root` admin created the way a cold start does
//!   ([`accounts::ensure_root`]) and password [`ROOT_PASSWORD`]. The configuration is built
//!   from fixed test values, never from the process environment or a `.env`;
//!   [`TestApp::with_vars`] adds or overrides keys (a blank value unsets a default, e.g.
//!   `("ROOT_PASSWORD", "")`). It derefs to `AppState`, so `handle(&app, req)` works.
//!   Users, tokens, the outbox and forms go through shared's own functions
//!   (`users::insert`, `users::set_admin`, `passwords::hash`, `JwtKeys::issue`,
//!   `outbox::pending`, `forms::create`, ...), never through raw SQL.
//! - [`Event`]: an API Gateway HTTP API (payload 2.0) event template, as the project's
//!   emulator (`local/lambda-emulator/src/apigw.rs`) sends it, with `{{name}}` placeholders
//!   filled by [`Event::with`], turned into a `lambda_http::Request` by
//!   `lambda_http::request::from_str`, exactly as the runtime does with a real event.
//! - The refusals every endpoint shares, as tables to run against a handler:
//!   [`no_input_events`] (contract section 1: no body, before authentication),
//!   [`header_refusals`] and [`TestApp::token_refusals`] (section 2, both:
//!   [`TestApp::authentication_refusals`]), each case a [`TokenRefusal`]; run through a
//!   handler by [`assert_body_required`] and [`assert_refusals`]. The contract's texts:
//!   [`messages`].
//! - Response helpers: [`body_text`], [`body_json`], [`sorted_keys`], [`assert_json`],
//!   [`assert_message`], [`assert_no_content`]; HTML pages (section 5): [`assert_page`],
//!   [`assert_invalid_page`], [`assert_method_not_allowed_page`],
//!   [`assert_server_error_page`], [`paragraphs_of`].
//! - E-mails (section 6): [`TestApp::outbox`], [`TestApp::mail_to`],
//!   [`TestApp::mails_since`], [`button_link`], [`link_token`], [`first_link`].
//! - JSON bodies: [`json_with`], [`form_fields`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::app::accounts;
use crate::app::auth::{self, Caller};
use crate::app::error::AppError;
use crate::app::forms;
use crate::app::mail::LinkBase;
use crate::app::resolve;
use crate::domain::form::FormId;
use crate::domain::jwt::{Claims, TokenType};
use crate::domain::now;
use crate::domain::outbox::OutboxMessage;
use crate::domain::passwords;
use crate::domain::user::{NewUser, User};
use crate::store::outbox;
use crate::store::users;
use crate::{AppState, Config, Db};

/// `root`'s password in every [`TestApp`] (unless overridden with `ROOT_PASSWORD`).
pub const ROOT_PASSWORD: &str = "root-test-password";
/// The password [`TestApp::user`] and [`TestApp::admin`] give their users.
pub const USER_PASSWORD: &str = "correct horse battery staple";
pub const JWT_SECRET: &str = "test-jwt-secret";
pub const FLASK_SECRET: &str = "test-flask-secret";
/// `PUBLIC_HOST`: e-mailed links point here.
pub const PUBLIC_HOST: &str = "bt.example.test";
pub const ROOT_EMAIL: &str = "root@example.test";
/// A password link as e-mailed (plain http: no `X-Forwarded-Proto`), up to its token.
pub const PASSWORD_LINK: &str = "http://bt.example.test/reset-password?token=";
/// A resolve link as e-mailed (plain http: no `X-Forwarded-Proto`), up to its token.
pub const RESOLVE_LINK: &str = "http://bt.example.test/resolve?token=";

/// The contract's exact texts (`shared/spec/api.md`), written out here so that a test
/// compares the handler's answer with the contract, never with the code's own strings.
pub mod messages {
    /// Section 1: no body, or an empty or falsy one (400).
    pub const NO_INPUT: &str = "No input data provided";
    /// Section 1: a known API path, another method (405).
    pub const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
    /// Section 2: no `Authorization` header (401).
    pub const MISSING_HEADER: &str = "Missing Authorization Header";
    /// Section 2: an `Authorization` header that is no `Bearer <token>` (422).
    pub const BAD_HEADER: &str = "Bad Authorization header. Expected value 'Bearer <JWT>'";
    /// Section 2: a refresh token where an access token is needed (422).
    pub const ACCESS_ONLY: &str = "Only access tokens are allowed";
    /// Section 2: an access token on `POST /auth/token` (422).
    pub const REFRESH_ONLY: &str = "Only refresh tokens are allowed";
    /// Section 2: a valid token of a user who is no admin on an admin endpoint (401).
    pub const ADMIN_REQUIRED: &str = "This endpoint requires admin status";
    /// Section 1: the validation messages (422, per field).
    pub const MISSING: &str = "Missing data for required field.";
    pub const NOT_STRING: &str = "Not a valid string.";
    pub const NOT_INTEGER: &str = "Not a valid integer.";
    pub const NOT_BOOLEAN: &str = "Not a valid boolean.";
    pub const NOT_NUMBER: &str = "Not a valid number.";
    pub const NOT_CHOICE: &str = "Not a valid choice.";
    pub const NOT_NULL: &str = "Field may not be null.";
    /// The one paragraph of the 500 page (`/reset-password`, `/resolve`): never the cause.
    pub const SERVER_ERROR_PAGE: &str = "Something went wrong on our side. Please try again later.";

    /// Section 1: the 400 of a JSON body cut short after `column` characters (e.g.
    /// `{"username": ` is 13).
    pub fn truncated_json(column: usize) -> String {
        format!("Failed to decode JSON object: EOF while parsing a value at line 1 column {column}")
    }

    /// Section 1: `Longer than maximum length <n>.`
    pub fn too_long(n: usize) -> String {
        format!("Longer than maximum length {n}.")
    }
}

/// An [`AppState`] over a throwaway SQLite database, for one test.
pub struct TestApp {
    pub state: AppState,
    dir: PathBuf,
}

impl std::ops::Deref for TestApp {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.state
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A user to create with [`TestApp::create_user`]; [`UserSpec::new`] fills in the rest.
#[derive(Debug, Clone)]
pub struct UserSpec<'a> {
    pub username: &'a str,
    /// `None`: `<username>@example.test`.
    pub email: Option<&'a str>,
    pub first_name: &'a str,
    pub last_name: Option<&'a str>,
    pub is_admin: bool,
    /// `None`: the user has not set a password yet (as after registration).
    pub password: Option<&'a str>,
}

impl<'a> UserSpec<'a> {
    /// Not an admin, password [`USER_PASSWORD`], first name "Test", no last name.
    pub fn new(username: &'a str) -> Self {
        Self {
            username,
            email: None,
            first_name: "Test",
            last_name: None,
            is_admin: false,
            password: Some(USER_PASSWORD),
        }
    }
}

impl TestApp {
    /// A fresh, migrated database with the root admin; the default test configuration.
    pub async fn new() -> Self {
        Self::with_vars(&[]).await
    }

    /// [`TestApp::new`] with extra configuration keys (they win over the defaults; a blank
    /// value counts as unset, as in `.env`). `DATABASE_URL` and `DATA_DIR` point into the
    /// test's own temp dir unless given.
    pub async fn with_vars(extra: &[(&str, &str)]) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "bt-handler-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the test's temp dir");
        let mut vars: std::collections::HashMap<String, String> = [
            (
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("bt.db").display()),
            ),
            ("DATA_DIR", dir.display().to_string()),
            ("ROOT_PASSWORD", ROOT_PASSWORD.into()),
            ("ROOT_EMAIL", ROOT_EMAIL.into()),
            ("JWT_SECRET", JWT_SECRET.into()),
            ("FLASK_SECRET", FLASK_SECRET.into()),
            ("PUBLIC_HOST", PUBLIC_HOST.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (key, value) in extra {
            vars.insert(key.to_string(), value.to_string());
        }
        let config = Config::from_vars(vars).expect("test configuration");
        let db = Db::connect(config.database.url.expose())
            .await
            .expect("cannot open the test database");
        db.migrate()
            .await
            .expect("cannot migrate the test database");
        let state = AppState::new(config, db).expect("test state");
        accounts::ensure_root(&state)
            .await
            .expect("cannot create the root user");
        Self { state, dir }
    }

    /// The test's own temp dir (the database, `DATA_DIR`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a user through `users::insert` (the password hashed by `passwords::hash`).
    pub async fn create_user(&self, spec: UserSpec<'_>) -> User {
        let default_email = format!("{}@example.test", spec.username);
        let hash = match spec.password {
            Some(p) => Some(passwords::hash(p.to_string()).await.expect("hash")),
            None => None,
        };
        let mut conn = self.db.pool.acquire().await.expect("connection");
        let new_user = NewUser {
            username: spec.username,
            email: spec.email.unwrap_or(&default_email),
            first_name: spec.first_name,
            last_name: spec.last_name,
            is_admin: spec.is_admin,
            password_hash: hash.as_deref(),
            registration_time: now(),
        };
        let id = users::insert(&mut conn, &new_user)
            .await
            .unwrap_or_else(|e| panic!("cannot create user {}: {e}", spec.username));
        users::find_by_id(&self.db.pool, id)
            .await
            .expect("find user")
            .expect("the user just created")
    }

    /// A plain user with password [`USER_PASSWORD`].
    pub async fn user(&self, username: &str) -> User {
        self.create_user(UserSpec::new(username)).await
    }

    /// An admin with password [`USER_PASSWORD`].
    pub async fn admin(&self, username: &str) -> User {
        self.create_user(UserSpec {
            is_admin: true,
            ..UserSpec::new(username)
        })
        .await
    }

    /// A plain user with these names (password [`USER_PASSWORD`]), e.g. for the "First
    /// Last" an e-mail names.
    pub async fn named_user(&self, username: &str, first: &str, last: Option<&str>) -> User {
        self.create_user(UserSpec {
            first_name: first,
            last_name: last,
            ..UserSpec::new(username)
        })
        .await
    }

    /// A user who has not set a password yet (as after registration).
    pub async fn user_without_password(&self, username: &str) -> User {
        self.create_user(UserSpec {
            password: None,
            ..UserSpec::new(username)
        })
        .await
    }

    /// The user as the database has it now (`users::find_by_username`).
    pub async fn find_user(&self, username: &str) -> Option<User> {
        users::find_by_username(&self.db.pool, username)
            .await
            .expect("find user")
    }

    /// Promotes or demotes an existing user (`users::set_admin`), as `PATCH /auth/access`
    /// does; tokens already issued are not touched (admin status is read live).
    pub async fn set_admin(&self, username: &str, is_admin: bool) {
        let user = self
            .find_user(username)
            .await
            .unwrap_or_else(|| panic!("no user {username}"));
        users::set_admin(&self.db.pool, user.id, is_admin)
            .await
            .expect("set admin");
    }

    /// Logs in the way `POST /auth/login` does (`app::auth::login`): `Ok`, or the
    /// refusal's message (e.g. `Err("Invalid credentials")`).
    pub async fn login(&self, username: &str, password: &str) -> Result<(), String> {
        let body = json!({ "username": username, "password": password });
        let map = body.as_object().expect("an object");
        let credentials = crate::web::requests::credentials(map).map_err(|e| format!("{e:?}"))?;
        auth::login(self, credentials)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                AppError::Refused(refusal) => refusal.to_string(),
                other => format!("{other:?}"),
            })
    }

    /// An access token for `username`, as a login issues it now.
    pub fn access_token(&self, username: &str) -> String {
        self.token_issued_at(username, TokenType::Access, now())
    }

    /// A refresh token for `username`, as a login issues it now.
    pub fn refresh_token(&self, username: &str) -> String {
        self.token_issued_at(username, TokenType::Refresh, now())
    }

    /// A token of the configured lifetime as if issued at `issued_at` (in the past: an
    /// expired token, e.g. `now() - 1000` for a 900 s access token).
    pub fn token_issued_at(&self, username: &str, kind: TokenType, issued_at: i64) -> String {
        let lifetime = match kind {
            TokenType::Access => self.config.tokens.access_expiry,
            TokenType::Refresh => self.config.tokens.refresh_expiry,
        };
        self.jwt
            .issue(username, kind, lifetime, issued_at)
            .expect("issue a token")
    }

    /// A JWT with any header and claims, HMAC-SHA256-signed with `secret` (the
    /// configuration's `JWT_SECRET` when `None`), whatever `alg` the header names: for
    /// tokens no login would issue (other algorithms, missing claims, future `nbf`, ...).
    pub fn forge_jwt(&self, header: &Value, claims: &Value, secret: Option<&str>) -> String {
        let secret = secret.unwrap_or(self.config.tokens.jwt_secret.expose());
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The claims our own tokens carry, for [`TestApp::forge_jwt`]: an access token for
    /// `username` issued now; change or remove members to taste.
    pub fn standard_claims(&self, username: &str) -> Value {
        let now = now();
        json!({
            "iat": now,
            "nbf": now,
            "exp": now + self.config.tokens.access_expiry,
            "jti": crate::domain::jwt::random_id(),
            "identity": username,
            "type": "access",
            "fresh": false,
        })
    }

    /// The claims of a token of either kind, verified (panics when it does not verify).
    pub fn claims(&self, token: &str) -> Claims {
        self.jwt
            .verify_any(token, now())
            .unwrap_or_else(|e| panic!("token does not verify: {e}"))
    }

    /// An authenticated caller for `username` (a fresh access token, verified), for calling
    /// shared's domain functions directly.
    pub async fn caller(&self, username: &str) -> Caller {
        Caller {
            claims: self.claims(&self.access_token(username)),
            user: self
                .find_user(username)
                .await
                .unwrap_or_else(|| panic!("no user {username}")),
        }
    }

    /// Creates a form for `username` through `forms::create` (which queues the "new form"
    /// e-mails, as the API does); `body` holds the six input fields.
    pub async fn create_form(&self, username: &str, body: &Value) -> i64 {
        let caller = self.caller(username).await;
        let map = body.as_object().expect("a form body is a JSON object");
        let raw = body.to_string();
        let base = LinkBase {
            scheme: "http".into(),
        };
        let fields = crate::web::requests::new_form(map, raw.as_bytes())
            .unwrap_or_else(|e| panic!("not a valid form: {e}"));
        forms::create(self, &base, &caller, fields)
            .await
            .unwrap_or_else(|e| panic!("cannot create the form: {e:?}"))
            .0
    }

    /// The form as stored (`forms::find`), as its contract JSON; `None` when there is none.
    pub async fn stored_form(&self, id: i64) -> Option<Value> {
        let form = crate::store::forms::find(&self.db.pool, FormId(id))
            .await
            .expect("find the form");
        form.map(|f| serde_json::to_value(f).expect("a form is JSON"))
    }

    /// Resolves a form the way `PUT /form/resolve` does (`app::resolve::resolve`, the
    /// submitter's e-mail included); the resolved form's JSON.
    pub async fn resolve_form(&self, id: i64) -> Value {
        let base = LinkBase {
            scheme: "http".into(),
        };
        let (form, _) = resolve::resolve(self, &base, FormId(id))
            .await
            .unwrap_or_else(|e| panic!("cannot resolve form {id}: {e:?}"));
        serde_json::to_value(form).expect("a form is JSON")
    }

    /// Deletes a form as `username` the way `DELETE /form` does (`forms::delete`); the
    /// deleted form's JSON.
    pub async fn delete_form(&self, username: &str, id: i64) -> Value {
        let caller = self.caller(username).await;
        let form = forms::delete(self, &caller, FormId(id))
            .await
            .unwrap_or_else(|e| panic!("cannot delete form {id}: {e:?}"));
        serde_json::to_value(form).expect("a form is JSON")
    }

    /// Every e-mail waiting to be sent, oldest first (`outbox::pending`: read only, the
    /// outbox is left as it was).
    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        outbox::pending(&self.db).await.expect("read the outbox")
    }

    /// [`TestApp::outbox`], only the messages to `address`.
    pub async fn mail_to(&self, address: &str) -> Vec<OutboxMessage> {
        let mut messages = self.outbox().await;
        messages.retain(|m| m.to_address == address);
        messages
    }

    /// The highest id in the outbox so far (0 when it is empty): a mark for
    /// [`TestApp::mails_since`].
    pub async fn outbox_max_id(&self) -> i64 {
        self.outbox().await.iter().map(|m| m.id).max().unwrap_or(0)
    }

    /// [`TestApp::outbox`], only the messages queued after the mark `since`
    /// ([`TestApp::outbox_max_id`]).
    pub async fn mails_since(&self, since: i64) -> Vec<OutboxMessage> {
        let mut messages = self.outbox().await;
        messages.retain(|m| m.id > since);
        messages
    }

    /// The tokens contract section 2 refuses, with their answers, for an endpoint that
    /// wants a token of kind `wanted` (`None`: either kind, as `DELETE /auth/token`):
    /// bad signatures, other algorithms, a future `nbf`, missing or bad claims, expired
    /// tokens (checked before the kind and the type claim), the other kind, and a token
    /// of a user who does not exist (`ghost`). Every token names `root` unless it says
    /// otherwise; send each with [`TokenRefusal::apply`] and check with
    /// [`TokenRefusal::assert`]. [`header_refusals`] holds the refusals of the header.
    pub fn token_refusals(&self, wanted: Option<TokenType>) -> Vec<TokenRefusal> {
        let kind = wanted.unwrap_or(TokenType::Access);
        let now = now();
        let claims = |changes: Value| self.claims_with("root", kind, &changes);
        let signed = |alg: &str, changes: Value, secret: Option<&str>| {
            self.forge_jwt(&json!({"typ": "JWT", "alg": alg}), &claims(changes), secret)
        };
        let forged = |changes: Value| signed("HS256", changes, None);
        let (bad_signature, bad_alg) = (
            "Signature verification failed",
            "The specified alg value is not allowed",
        );
        let (bad_type, expired) = ("Missing or invalid claim: type", "Token has expired");
        let mut cases = vec![
            (
                tampered(&self.token_issued_at("root", kind, now)),
                422,
                bad_signature,
            ),
            (
                signed("HS256", json!({}), Some("not-the-secret")),
                422,
                bad_signature,
            ),
            (signed("HS512", json!({}), None), 422, bad_alg),
            (signed("none", json!({}), None), 422, bad_alg),
            (
                forged(json!({"nbf": now + 120})),
                422,
                "The token is not yet valid (nbf)",
            ),
            (
                forged(json!({"identity": "DROP"})),
                422,
                "Missing claim: identity",
            ),
            (forged(json!({"type": "DROP"})), 422, bad_type),
            (forged(json!({"type": "bogus"})), 422, bad_type),
            (forged(json!({"type": null})), 422, bad_type),
            (
                self.token_issued_at("root", TokenType::Access, now - 1000),
                401,
                expired,
            ),
            (forged(json!({"exp": now - 3})), 401, expired),
            (
                self.token_issued_at("root", TokenType::Refresh, now - 100_000_000),
                401,
                expired,
            ),
            (
                forged(json!({"exp": now - 100, "type": "bogus"})),
                401,
                expired,
            ),
        ];
        match wanted {
            Some(TokenType::Access) => {
                cases.push((self.refresh_token("root"), 422, messages::ACCESS_ONLY))
            }
            Some(TokenType::Refresh) => {
                cases.push((self.access_token("root"), 422, messages::REFRESH_ONLY))
            }
            None => {}
        }
        let ghost = self.token_issued_at("ghost", kind, now);
        cases.push((ghost, 401, "User ghost specified by token does not exist"));
        cases
            .into_iter()
            .map(|(token, status, message)| TokenRefusal::bearer(&token, status, message))
            .collect()
    }

    /// [`header_refusals`] then [`TestApp::token_refusals`]: every refusal of contract
    /// section 2 for an endpoint that wants a token of kind `wanted`.
    pub fn authentication_refusals(&self, wanted: Option<TokenType>) -> Vec<TokenRefusal> {
        let mut refusals = header_refusals();
        refusals.extend(self.token_refusals(wanted));
        refusals
    }

    /// The claims of a token of `kind` for `username` issued now, with `changes` applied
    /// (a member changed to `"DROP"` is removed).
    fn claims_with(&self, username: &str, kind: TokenType, changes: &Value) -> Value {
        let mut claims = self.standard_claims(username);
        if kind == TokenType::Refresh {
            claims["type"] = json!("refresh");
            claims["exp"] = json!(now() + self.config.tokens.refresh_expiry);
            claims.as_object_mut().expect("an object").remove("fresh");
        }
        let map = claims.as_object_mut().expect("an object");
        for (key, value) in changes.as_object().expect("an object") {
            if value == "DROP" {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        claims
    }
}

/// `token` with one character of its signature changed (middle of the signature).
fn tampered(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a compact JWT");
    let middle = signature.len() / 2;
    let flipped = if &signature[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    format!(
        "{signed}.{}{flipped}{}",
        &signature[..middle],
        &signature[middle + 1..]
    )
}

/// An `Authorization` header and the answer contract section 2 gives a request that
/// carries it (see [`header_refusals`], [`TestApp::token_refusals`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    /// The header's whole value; `None`: no `Authorization` header at all.
    pub authorization: Option<String>,
    pub status: u16,
    pub message: String,
}

impl TokenRefusal {
    fn new(authorization: Option<&str>, status: u16, message: &str) -> Self {
        Self {
            authorization: authorization.map(str::to_string),
            status,
            message: message.to_string(),
        }
    }

    fn bearer(token: &str, status: u16, message: &str) -> Self {
        Self::new(Some(&format!("Bearer {token}")), status, message)
    }

    /// `event` with this `Authorization` header ([`Event::authorization`]).
    pub fn apply(&self, event: Event) -> Event {
        event.authorization(self.authorization.as_deref())
    }

    /// Exactly this status and `{"message": <message>}`; the header is named on failure.
    #[track_caller]
    pub fn assert(&self, resp: &Response<Body>) {
        let context = format!("Authorization: {:?}", self.authorization);
        check_json(
            resp,
            self.status,
            &json!({ "message": self.message }),
            &context,
        );
    }
}

/// The `Authorization` headers contract section 2 refuses before it looks at a token,
/// with their answers: none, blank, not `Bearer <token>`, a token that is no compact JWT.
pub fn header_refusals() -> Vec<TokenRefusal> {
    let missing = messages::MISSING_HEADER;
    let bad = messages::BAD_HEADER;
    [
        (None, 401, missing),
        (Some(""), 401, missing),
        (Some("   "), 401, missing),
        (Some("Token abc"), 422, bad),
        (Some("Basic YWxpY2U6eA=="), 422, bad),
        (Some("Bearer"), 422, bad),
        (Some("Bearer a b"), 422, bad),
        (Some("Bearer abc"), 422, "Not enough segments"),
        (Some("Bearer a.b.c.d"), 422, "Too many segments"),
    ]
    .into_iter()
    .map(|(authorization, status, message)| TokenRefusal::new(authorization, status, message))
    .collect()
}

/// The bodies contract section 1 calls "no input", as (body, `Content-Type`), `None`
/// meaning none at all: empty and falsy JSON values, blank, no body, and `json` (a body
/// the endpoint would accept) sent as `text/plain`, `form` form-encoded.
pub fn no_input_bodies<'a>(
    json: &'a str,
    form: &'a str,
) -> Vec<(Option<&'a str>, Option<&'a str>)> {
    const JSON: Option<&str> = Some("application/json");
    vec![
        (Some("{}"), JSON),
        (Some("[]"), JSON),
        (Some("null"), JSON),
        (Some("false"), JSON),
        (Some("0"), JSON),
        (Some("\"\""), JSON),
        (Some("  "), JSON),
        (None, JSON),
        (None, None),
        (Some(json), Some("text/plain")),
        (Some(form), Some("application/x-www-form-urlencoded")),
    ]
}

/// Requests contract section 1 answers 400 [`messages::NO_INPUT`] before it looks at
/// who calls: `event` with each of [`no_input_bodies`]`(json, form)`, each under a
/// valid `Bearer <token>`, a malformed bearer token, no `Authorization` header and one
/// that is no bearer token.
pub fn no_input_events(event: &Event, token: &str, json: &str, form: &str) -> Vec<Event> {
    let bearer = format!("Bearer {token}");
    let authorizations = [
        Some(bearer.as_str()),
        Some("Bearer abc"),
        None,
        Some("Token abc"),
    ];
    let mut events = Vec::new();
    for authorization in authorizations {
        for (body, content_type) in no_input_bodies(json, form) {
            events.push(
                event
                    .clone()
                    .with("body", "")
                    .authorization(authorization)
                    .content(body, content_type),
            );
        }
    }
    events
}

/// Contract section 1 for an endpoint that takes a JSON body, through `handle` (e.g.
/// `|req| call(&app, req)`): each of [`no_input_events`]`(event, token, json, form)` is
/// exactly 400 [`messages::NO_INPUT`], and `json` cut short after its first `": "` (e.g.
/// `{"id": `), sent with `token`, is 400 with the parser's message
/// ([`messages::truncated_json`] at the column where the text ends).
pub async fn assert_body_required<F, Fut>(
    handle: F,
    event: &Event,
    token: &str,
    json: &str,
    form: &str,
) where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let expected = json!({ "message": messages::NO_INPUT });
    for e in no_input_events(event, token, json, form) {
        let context = format!("{:?}", e.to_json());
        check_json(&handle(e.request()).await, 400, &expected, &context);
    }
    let cut = json.find(": ").expect("a JSON object with a member") + 2;
    let truncated = &json[..cut];
    let req = event.clone().with("token", token).with("body", truncated);
    let expected = json!({ "message": messages::truncated_json(cut) });
    check_json(&handle(req.request()).await, 400, &expected, truncated);
}

/// `event` with each of `methods` through `handle` (e.g. `|req| call(&app, req)`): each
/// is exactly 405 [`messages::METHOD_NOT_ALLOWED`] (contract section 1).
pub async fn assert_methods_not_allowed<F, Fut>(handle: F, event: &Event, methods: &[&str])
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let expected = json!({ "message": messages::METHOD_NOT_ALLOWED });
    for method in methods {
        let req = event.clone().method(method).request();
        check_json(&handle(req).await, 405, &expected, method);
    }
}

/// Sends `event` with each refusal's `Authorization` header through `handle` (e.g.
/// `|req| call(&app, req)`); each answer must be exactly that refusal's.
pub async fn assert_refusals<F, Fut>(handle: F, event: &Event, refusals: &[TokenRefusal])
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    for refusal in refusals {
        refusal.assert(&handle(refusal.apply(event.clone()).request()).await);
    }
}

/// `base` (a JSON object) with the members of `changes` set.
pub fn json_with(base: &Value, changes: &Value) -> Value {
    let mut out = base.clone();
    for (key, value) in changes.as_object().expect("changes are a JSON object") {
        out[key] = value.clone();
    }
    out
}

/// The six input fields of a valid form (contract section 4), with `changes` applied:
/// Jane Customer, "Course K", cash, `"12.5"` (€12.50), receipt R-1, at 1711302900
/// (Sunday 24 March 2024, 17:55 UTC). For [`TestApp::create_form`].
pub fn form_fields(changes: &Value) -> Value {
    let base = json!({"time": 1711302900, "customer_name": "Jane Customer",
        "course": "Course K", "payment_method": "cash", "amount": "12.5", "receipt": "R-1"});
    json_with(&base, changes)
}

/// The button link of an e-mail: the first link of its HTML (contract section 6), which
/// the plain-text part carries as well.
#[track_caller]
pub fn button_link(mail: &OutboxMessage) -> String {
    let link = first_link(&mail.html_body)
        .unwrap_or_else(|| panic!("no link in the e-mail: {}", mail.html_body));
    assert!(
        mail.text_body.contains(&link),
        "the text part carries the button link {link}: {}",
        mail.text_body
    );
    link
}

/// The token of an e-mail's [`button_link`], which must start with `prefix` (e.g.
/// [`PASSWORD_LINK`], [`RESOLVE_LINK`]).
#[track_caller]
pub fn link_token(mail: &OutboxMessage, prefix: &str) -> String {
    let link = button_link(mail);
    link.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{link} does not start with {prefix}"))
        .to_string()
}

/// The header and claims of a compact JWT, decoded without any check (to look at what a
/// handler issued; [`TestApp::claims`] verifies).
pub fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWT: {token}");
    let decode = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("not base64url ({e}): {part}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {part}"))
    };
    (decode(parts[0]), decode(parts[1]))
}

/// The first `http://` or `https://` URL in a text or HTML body, with `&amp;` unescaped
/// (the button link of an e-mail, contract section 6).
pub fn first_link(text: &str) -> Option<String> {
    let start = [text.find("http://"), text.find("https://")]
        .into_iter()
        .flatten()
        .min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .unwrap_or(rest.len());
    Some(rest[..end].replace("&amp;", "&"))
}

/// One API Gateway HTTP API event (payload format 2.0), from a template.
///
/// A template is a recorded event with `{{name}}` placeholders, each inside a JSON string
/// (e.g. `"body": "{{body}}"`, `"authorization": "Bearer {{token}}"`). [`Event::with`]
/// gives a placeholder its value, which is inserted JSON-escaped, so any text (a JSON body
/// included) fits; values are not searched for placeholders again. [`Event::request`]
/// panics if a placeholder is left without a value. Edits ([`Event::header`],
/// [`Event::without_header`], [`Event::without_body`], [`Event::method`], ...) apply to the
/// event after the placeholders are filled, the way the emulator would have filled the
/// event for that request; a `content-length` header, when the event has one, is set to
/// the final body's length.
#[derive(Debug, Clone)]
pub struct Event {
    template: String,
    origin: String,
    values: BTreeMap<String, String>,
    edits: Vec<Edit>,
}

#[derive(Debug, Clone)]
enum Edit {
    Header(String, String),
    RemoveHeader(String),
    Body(Option<(String, bool)>),
    Method(String),
    Path(String),
    Query(String),
}

impl Event {
    /// `<manifest_dir>/tests/events/<name>`: call with `env!("CARGO_MANIFEST_DIR")`.
    pub fn fixture(manifest_dir: &str, name: &str) -> Self {
        Self::from_file(Path::new(manifest_dir).join("tests/events").join(name))
    }

    pub fn from_file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let template = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read the event {}: {e}", path.display()));
        Self {
            origin: path.display().to_string(),
            ..Self::from_template(&template)
        }
    }

    pub fn from_template(template: &str) -> Self {
        Self {
            template: template.to_string(),
            origin: "template".into(),
            values: BTreeMap::new(),
            edits: Vec::new(),
        }
    }

    /// Fills the placeholder `{{name}}` with `value` (JSON-escaped on insertion).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.values.insert(name.to_string(), value.into());
        self
    }

    /// Sets a header (the name lower-cased, as the emulator sends names).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.edits
            .push(Edit::Header(name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.edits
            .push(Edit::RemoveHeader(name.to_ascii_lowercase()));
        self
    }

    /// A UTF-8 body (whatever a placeholder said).
    pub fn body(mut self, text: &str) -> Self {
        self.edits.push(Edit::Body(Some((text.to_string(), false))));
        self
    }

    /// A body that is not UTF-8: base64 with `isBase64Encoded`, as the emulator sends it.
    pub fn binary_body(mut self, bytes: &[u8]) -> Self {
        self.edits
            .push(Edit::Body(Some((STANDARD.encode(bytes), true))));
        self
    }

    /// No body at all: the emulator leaves `body` out of the event.
    pub fn without_body(mut self) -> Self {
        self.edits.push(Edit::Body(None));
        self
    }

    /// The body and `Content-Type` a request arrives with: `None` body, no body at all
    /// ([`Event::without_body`]); `None` content type, no such header.
    pub fn content(self, body: Option<&str>, content_type: Option<&str>) -> Self {
        let event = match body {
            Some(text) => self.body(text),
            None => self.without_body(),
        };
        match content_type {
            Some(value) => event.header("content-type", value),
            None => event.without_header("content-type"),
        }
    }

    /// The `Authorization` header: exactly `value`, or none at all for `None`. The
    /// template's `{{token}}`, when it has one, is filled with nothing.
    pub fn authorization(self, value: Option<&str>) -> Self {
        let event = self.with("token", "");
        match value {
            Some(value) => event.header("authorization", value),
            None => event.without_header("authorization"),
        }
    }

    /// The request method (`requestContext.http.method`).
    pub fn method(mut self, method: &str) -> Self {
        self.edits.push(Edit::Method(method.to_ascii_uppercase()));
        self
    }

    /// The path as received (`rawPath` and `requestContext.http.path`), e.g. `//health`.
    pub fn path(mut self, raw_path: &str) -> Self {
        self.edits.push(Edit::Path(raw_path.to_string()));
        self
    }

    /// The raw query string (`rawQueryString`, and `queryStringParameters` decoded from
    /// it, repeated keys joined with commas, as API Gateway does).
    pub fn query(mut self, raw_query: &str) -> Self {
        self.edits.push(Edit::Query(raw_query.to_string()));
        self
    }

    /// The event as JSON, placeholders filled and edits applied.
    pub fn to_json(&self) -> Value {
        let text = self.filled();
        let mut event: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: the filled event is not JSON: {e}", self.origin));
        let object = event
            .as_object_mut()
            .unwrap_or_else(|| panic!("{}: an event is a JSON object", self.origin));
        for edit in &self.edits {
            apply(object, edit);
        }
        fix_content_length(object);
        event
    }

    /// The `lambda_http::Request` the runtime would hand the function for this event.
    pub fn request(&self) -> Request {
        let text = self.to_json().to_string();
        lambda_http::request::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: not an event lambda_http accepts: {e}\n{text}",
                self.origin
            )
        })
    }

    /// The template with every `{{name}}` replaced, in one pass.
    fn filled(&self) -> String {
        let mut out = String::with_capacity(self.template.len());
        let mut rest = self.template.as_str();
        let mut missing = Vec::new();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            match self.values.get(name) {
                Some(value) => {
                    let quoted = serde_json::to_string(value).expect("a string serialises");
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                None => missing.push(name.to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        assert!(
            missing.is_empty(),
            "{}: no value for the placeholders {missing:?} (Event::with)",
            self.origin
        );
        out
    }
}

fn headers(event: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let headers = event
        .entry("headers")
        .or_insert_with(|| Value::Object(Map::new()));
    if !headers.is_object() {
        *headers = Value::Object(Map::new());
    }
    headers.as_object_mut().expect("an object")
}

fn http_context(event: &mut Map<String, Value>) -> &mut Map<String, Value> {
    event
        .get_mut("requestContext")
        .and_then(|c| c.get_mut("http"))
        .and_then(Value::as_object_mut)
        .expect("an HTTP API event has requestContext.http")
}

fn apply(event: &mut Map<String, Value>, edit: &Edit) {
    match edit {
        Edit::Header(name, value) => {
            headers(event).insert(name.clone(), Value::String(value.clone()));
        }
        Edit::RemoveHeader(name) => {
            headers(event).remove(name);
        }
        Edit::Body(None) => {
            event.remove("body");
            event.insert("isBase64Encoded".into(), Value::Bool(false));
        }
        Edit::Body(Some((text, base64))) => {
            event.insert("body".into(), Value::String(text.clone()));
            event.insert("isBase64Encoded".into(), Value::Bool(*base64));
        }
        Edit::Method(method) => {
            http_context(event).insert("method".into(), Value::String(method.clone()));
        }
        Edit::Path(path) => {
            event.insert("rawPath".into(), Value::String(path.clone()));
            http_context(event).insert("path".into(), Value::String(path.clone()));
        }
        Edit::Query(query) => {
            event.insert("rawQueryString".into(), Value::String(query.clone()));
            let parameters = query_parameters(query);
            if parameters.is_empty() {
                event.remove("queryStringParameters");
            } else {
                event.insert("queryStringParameters".into(), Value::Object(parameters));
            }
        }
    }
}

/// Keeps a `content-length` header true to the body the event now carries.
fn fix_content_length(event: &mut Map<String, Value>) {
    let length = match (event.get("body"), event.get("isBase64Encoded")) {
        (Some(Value::String(b)), Some(Value::Bool(true))) => {
            STANDARD.decode(b).map(|d| d.len()).unwrap_or(b.len())
        }
        (Some(Value::String(b)), _) => b.len(),
        _ => 0,
    };
    if let Some(Value::Object(headers)) = event.get_mut("headers")
        && headers.contains_key("content-length")
    {
        headers.insert("content-length".into(), Value::String(length.to_string()));
    }
}

/// `a=1&a=x%20y&b=2` → `{"a": "1,x y", "b": "2"}`.
fn query_parameters(query: &str) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        match out.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(key, Value::String(value));
            }
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) if hex(high).is_some() && hex(low).is_some() => {
                out.push((hex(high).unwrap_or_default() * 16 + hex(low).unwrap_or_default()) as u8);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a response as bytes (empty for `Body::Empty`).
pub fn body_bytes(resp: &Response<Body>) -> &[u8] {
    match resp.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The body of a response as text (panics if it is not UTF-8).
pub fn body_text(resp: &Response<Body>) -> &str {
    std::str::from_utf8(body_bytes(resp)).expect("the body is not UTF-8")
}

/// The body of a response as JSON (panics if it is not JSON).
pub fn body_json(resp: &Response<Body>) -> Value {
    serde_json::from_slice(body_bytes(resp)).unwrap_or_else(|e| {
        panic!(
            "the body is not JSON ({e}): {}",
            String::from_utf8_lossy(body_bytes(resp))
        )
    })
}

/// The member names of a JSON object, sorted.
pub fn sorted_keys(value: &Value) -> Vec<&str> {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {value}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Exactly this status, `Content-Type: application/json`, and exactly this JSON body.
#[track_caller]
pub fn assert_json(resp: &Response<Body>, status: u16, expected: &Value) {
    check_json(resp, status, expected, "");
}

/// [`assert_json`], with `context` in every failure message.
#[track_caller]
fn check_json(resp: &Response<Body>, status: u16, expected: &Value, context: &str) {
    assert_eq!(
        resp.status().as_u16(),
        status,
        "{context} status; body: {}",
        String::from_utf8_lossy(body_bytes(resp))
    );
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{context} content type"
    );
    assert_eq!(&body_json(resp), expected, "{context}");
}

/// Exactly this status and exactly `{"message": message}`.
#[track_caller]
pub fn assert_message(resp: &Response<Body>, status: u16, message: &str) {
    assert_json(resp, status, &json!({ "message": message }));
}

/// 204 with an empty body.
#[track_caller]
pub fn assert_no_content(resp: &Response<Body>) {
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "body: {}",
        String::from_utf8_lossy(body_bytes(resp))
    );
    assert!(body_bytes(resp).is_empty(), "a 204 has an empty body");
}

/// Exactly this status and an HTML page of the contract's kind (section 5): `text/html`,
/// no referrer, no sniffing, self-contained (no `http(s)://` in it), titled `title`
/// (`<title>` and `<h1>`), whose paragraphs are exactly `paragraphs`, in order.
#[track_caller]
pub fn assert_page(resp: &Response<Body>, status: u16, title: &str, paragraphs: &[&str]) {
    let html = body_text(resp);
    assert_eq!(resp.status().as_u16(), status, "status; page: {html}");
    let headers = resp.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert_eq!(
        between(html, "<title>", "</title>"),
        [format!("{title} - BriefThreat")]
    );
    assert_eq!(between(html, "<h1>", "</h1>"), [title]);
    assert_eq!(paragraphs_of(html), paragraphs, "paragraphs of {html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: {html}"
    );
}

/// The 422 page "Invalid data" with the reason (section 5), e.g. `No token provided`.
#[track_caller]
pub fn assert_invalid_page(resp: &Response<Body>, reason: &str) {
    assert_page(resp, 422, "Invalid data", &[reason]);
}

/// The 405 page a page path answers another method with.
#[track_caller]
pub fn assert_method_not_allowed_page(resp: &Response<Body>) {
    assert_page(
        resp,
        405,
        "Method Not Allowed",
        &[messages::METHOD_NOT_ALLOWED],
    );
}

/// The 500 page of an unexpected failure, without its cause.
#[track_caller]
pub fn assert_server_error_page(resp: &Response<Body>) {
    assert_page(
        resp,
        500,
        "Internal Server Error",
        &[messages::SERVER_ERROR_PAGE],
    );
}

/// The text of every `<p ...>...</p>` of a page, in order, entities decoded.
pub fn paragraphs_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<p") {
        let after = &rest[start + 2..];
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let open_end = after.find('>').expect("a closed tag");
        let inner = &after[open_end + 1..];
        let close = inner.find("</p>").expect("a closed paragraph");
        out.push(unescape_html(&inner[..close]));
        rest = &inner[close + 4..];
    }
    out
}

/// The text between every `open` and the next `close`, entities decoded.
fn between(html: &str, open: &str, close: &str) -> Vec<String> {
    html.split(open)
        .skip(1)
        .map(|part| unescape_html(part.split(close).next().unwrap_or_default()))
        .collect()
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{"version": "2.0", "routeKey": "$default", "rawPath": "/x",
        "rawQueryString": "", "headers": {"content-type": "application/json",
        "authorization": "Bearer {{token}}", "content-length": "1"},
        "requestContext": {"http": {"method": "POST", "path": "/x", "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1"}, "stage": "$default", "routeKey": "$default"},
        "body": "{{body}}", "isBase64Encoded": false}"#;

    #[test]
    fn placeholders_are_filled_json_escaped_and_once() {
        let event = Event::from_template(TEMPLATE)
            .with("token", "a.b.c")
            .with("body", r#"{"u": "{{token}}", "q": "\"x\""}"#)
            .to_json();
        assert_eq!(event["headers"]["authorization"], "Bearer a.b.c");
        assert_eq!(event["body"], r#"{"u": "{{token}}", "q": "\"x\""}"#);
        assert_eq!(event["headers"]["content-length"], "32");
    }

    #[test]
    #[should_panic(expected = "no value for the placeholders [\"token\"]")]
    fn a_placeholder_without_a_value_panics() {
        Event::from_template(TEMPLATE).with("body", "{}").request();
    }

    #[test]
    fn edits_shape_the_request() {
        let req = Event::from_template(TEMPLATE)
            .with("token", "t")
            .with("body", "{}")
            .without_header("Authorization")
            .header("X-Forwarded-Proto", "https")
            .method("delete")
            .path("//y")
            .query("a=1&a=x%20y")
            .without_body()
            .request();
        assert_eq!(req.method(), "DELETE");
        assert_eq!(req.uri().path(), "//y");
        assert_eq!(req.uri().query(), Some("a=1&a=x%20y"));
        assert!(req.headers().get("authorization").is_none());
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
        assert_eq!(req.headers()["content-length"], "0");
        assert!(matches!(req.body(), Body::Empty));
        let binary = Event::from_template(TEMPLATE)
            .with("token", "t")
            .with("body", "")
            .binary_body(&[0xff, 0])
            .request();
        assert_eq!(&**binary.body(), &[0xff, 0]);
        assert_eq!(query_parameters("a=1&a=x%20y&b")["a"], "1,x y");
        let bare = Event::from_template(TEMPLATE)
            .with("token", "t")
            .with("body", "{}")
            .authorization(None)
            .content(None, None)
            .request();
        assert!(bare.headers().get("authorization").is_none());
        assert!(bare.headers().get("content-type").is_none());
        assert!(matches!(bare.body(), Body::Empty));
        let form = "a=1";
        let other = Event::from_template(TEMPLATE)
            .with("body", "{}")
            .authorization(Some("Token x"))
            .content(Some(form), Some("application/x-www-form-urlencoded"))
            .request();
        assert_eq!(other.headers()["authorization"], "Token x");
        assert_eq!(
            other.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(&**other.body(), form.as_bytes());
    }

    #[test]
    fn links_are_found_in_text_and_html() {
        assert_eq!(
            first_link("<a href=\"http://h/r?token=a&amp;b=c\">x</a> https://later/").as_deref(),
            Some("http://h/r?token=a&b=c")
        );
        assert_eq!(first_link("none here"), None);
        for prefix in [PASSWORD_LINK, RESOLVE_LINK] {
            assert!(
                prefix.starts_with(&format!("http://{PUBLIC_HOST}/")),
                "{prefix}"
            );
        }
    }
}
