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
//!   (`users::insert`, `passwords::hash`, `JwtKeys::issue`, `outbox::claim_due`,
//!   `forms::create`), never through raw SQL.
//! - [`Event`]: an API Gateway HTTP API (payload 2.0) event template, as the project's
//!   emulator (`local/lambda-emulator/src/apigw.rs`) sends it, with `{{name}}` placeholders
//!   filled by [`Event::with`], turned into a `lambda_http::Request` by
//!   `lambda_http::request::from_str`, exactly as the runtime does with a real event.
//! - Response helpers: [`body_text`], [`body_json`], [`assert_json`], [`assert_message`],
//!   [`assert_no_content`], [`first_link`].

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
use crate::app::auth::Caller;
use crate::app::forms;
use crate::app::mail::LinkBase;
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

    /// The user as the database has it now (`users::find_by_username`).
    pub async fn find_user(&self, username: &str) -> Option<User> {
        users::find_by_username(&self.db.pool, username)
            .await
            .expect("find user")
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

    /// Every pending e-mail that is due, oldest first. Read through the `email` function's
    /// own `outbox::claim_due`, then each is given straight back (`outbox::release`, due
    /// again at its creation time), so the outbox is left as it was.
    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        const WORKER: &str = "shared-testing-reader";
        let messages = outbox::claim_due(&self.db, WORKER, now(), 60, i64::MAX)
            .await
            .expect("read the outbox");
        for m in &messages {
            outbox::release(&self.db, m.id, WORKER, m.created_at)
                .await
                .expect("give the message back");
        }
        messages
    }

    /// [`TestApp::outbox`], only the messages to `address`.
    pub async fn mail_to(&self, address: &str) -> Vec<OutboxMessage> {
        let mut messages = self.outbox().await;
        messages.retain(|m| m.to_address == address);
        messages
    }
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

/// Exactly this status, `Content-Type: application/json`, and exactly this JSON body.
#[track_caller]
pub fn assert_json(resp: &Response<Body>, status: u16, expected: &Value) {
    assert_eq!(
        resp.status().as_u16(),
        status,
        "status; body: {}",
        String::from_utf8_lossy(body_bytes(resp))
    );
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "content type"
    );
    assert_eq!(&body_json(resp), expected);
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
    }

    #[test]
    fn links_are_found_in_text_and_html() {
        assert_eq!(
            first_link("<a href=\"http://h/r?token=a&amp;b=c\">x</a> https://later/").as_deref(),
            Some("http://h/r?token=a&b=c")
        );
        assert_eq!(first_link("none here"), None);
    }
}
