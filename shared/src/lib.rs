//! BriefThreat's common crate: everything the functions share. Handlers in `functions/`
//! stay thin: parse the request, call a domain function here, map the result.

pub mod amount;
pub mod auth;
pub mod cleanup;
pub mod config;
pub mod db;
pub mod email_templates;
pub mod flask_import;
pub mod forms;
pub mod health;
pub mod http;
pub mod jwt;
pub mod legacy;
pub mod links;
pub mod notify;
pub mod outbox;
pub mod pages;
pub mod passwords;
pub mod ratelimit;
pub mod runtime;
pub mod users;
pub mod validate;

pub use config::Config;
pub use db::Db;

/// What a function builds once per cold start and lends to every invocation.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub jwt: jwt::JwtKeys,
    pub links: links::LinkSigner,
    pub notifier: notify::Notifier,
    /// Present when `REDIS_URL` is set: rate limits (production) and `/health`.
    pub redis: Option<ratelimit::Redis>,
}

impl AppState {
    /// No I/O: Redis connects on first use. Fails only on a malformed `REDIS_URL`.
    pub fn new(config: Config, db: Db) -> Result<Self, redis::RedisError> {
        Ok(Self {
            jwt: jwt::JwtKeys::new(&config.jwt_secret),
            links: links::LinkSigner::new(&config.flask_secret),
            notifier: notify::Notifier::from_config(&config),
            redis: config
                .redis_url
                .as_deref()
                .map(ratelimit::Redis::new)
                .transpose()?,
            config,
            db,
        })
    }

    /// The limit the client has gone over on this path, when rate limiting is on
    /// (production, with Redis).
    pub async fn rate_limit_exceeded(&self, client: &str, path: &str) -> Option<&ratelimit::Limit> {
        match &self.redis {
            Some(redis) if self.config.production => {
                redis.exceeded(&self.config.rate_limits, client, path).await
            }
            _ => None,
        }
    }
}
