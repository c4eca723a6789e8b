//! BriefThreat's common crate: everything the functions share. Handlers in `functions/`
//! stay thin: parse the request, call a domain function here, map the result.
//!
//! The async functions they call here (`app`'s use cases, `web::auth`, the start in
//! `web::runtime`) return a boxed future. rustc compiles an async function's state machine
//! into each crate that awaits it, with everything it awaits in turn (the pool, MariaDB's
//! handshake, TLS), and at opt-level 3 crates do not share those copies: each function
//! carried its own beside `shared`'s. A boxed future is awaited through its vtable, so its
//! state machine is compiled once, here.

pub mod app;
pub mod config;
pub mod domain;
pub mod notify;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod web;

pub use config::Config;
pub use store::db::Db;

/// What a function builds once per cold start and lends to every invocation.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub jwt: domain::jwt::JwtKeys,
    pub links: domain::links::LinkSigner,
    pub notifier: notify::Notifier,
    /// Present when `REDIS_URL` is set: rate limits (production) and `/health`.
    pub redis: Option<store::ratelimit::Redis>,
    /// The lists `GET /form` wrote, for the next one of the same forms.
    pub form_lists: app::form_lists::KeptLists,
}

impl AppState {
    /// No I/O: Redis connects on first use. Fails only on a malformed `REDIS_URL`.
    pub fn new(config: Config, db: Db) -> Result<Self, redis::RedisError> {
        Ok(Self {
            jwt: domain::jwt::JwtKeys::new(config.tokens.jwt_secret.expose()),
            links: domain::links::LinkSigner::new(config.tokens.flask_secret.expose()),
            notifier: notify::Notifier::from_config(&config),
            redis: config
                .limits
                .redis_url
                .as_ref()
                .map(|url| store::ratelimit::Redis::new(url.expose()))
                .transpose()?,
            config,
            db,
            form_lists: Default::default(),
        })
    }

    /// The limit the client has gone over on this path, when rate limiting is on
    /// (production, with Redis).
    pub async fn rate_limit_exceeded(
        &self,
        client: &str,
        path: &str,
    ) -> Option<&store::ratelimit::Limit> {
        match &self.redis {
            Some(redis) if self.config.production => {
                redis
                    .exceeded(&self.config.limits.limits, client, path)
                    .await
            }
            _ => None,
        }
    }
}
