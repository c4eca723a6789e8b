//! BriefThreat's common crate: everything the functions share. Handlers in `functions/`
//! stay thin: parse the request, call a domain function here, map the result.

pub mod amount;
pub mod auth;
pub mod cleanup;
pub mod config;
pub mod db;
pub mod email_templates;
pub mod forms;
pub mod health;
pub mod http;
pub mod jwt;
pub mod links;
pub mod notify;
pub mod outbox;
pub mod pages;
pub mod passwords;
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
}

impl AppState {
    pub fn new(config: Config, db: Db) -> Self {
        Self {
            jwt: jwt::JwtKeys::new(&config.jwt_secret),
            links: links::LinkSigner::new(&config.flask_secret),
            notifier: notify::Notifier::from_config(&config),
            config,
            db,
        }
    }
}
