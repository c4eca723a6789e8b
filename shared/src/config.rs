//! Configuration, read once per cold start from the environment and an optional `.env`.
//!
//! The keys of the old deployment's `.env` (contract section 8) keep their names and
//! meaning; the project's own keys are documented in the README. A missing or malformed
//! key is a [`ConfigError`] whose `Display` is one line naming the key.

use std::collections::HashMap;
use std::path::PathBuf;

/// Development fallbacks for the two secrets. Refused when `FLASK_ENV=production`.
const DEV_FLASK_SECRET: &str = "dev-only-flask-secret-change-me";
const DEV_JWT_SECRET: &str = "dev-only-jwt-secret-change-me";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {key} {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    fn new(key: &str, problem: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

/// How the `email` function delivers: SMTP, Amazon SES, or `.eml` files under
/// `DATA_DIR/mail` (the embedded default when no SMTP server is configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTransport {
    Smtp,
    Ses,
    File,
}

/// A value that must not reach a log or an error message: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// Everything a function reads from the environment, by concern.
#[derive(Debug, Clone)]
pub struct Config {
    /// `FLASK_ENV=production`: rate limiting and scheduled cleanup on, dev secrets refused.
    pub production: bool,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub links: LinkConfig,
    pub root: RootConfig,
    pub email: EmailConfig,
    pub limits: RateLimitConfig,
    pub cleanup: CleanupConfig,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May hold a password: [`Secret`].
    pub url: Secret,
    /// Where the embedded database and locally written e-mails live.
    pub data_dir: PathBuf,
    /// Run migrations and the root bootstrap on every cold start (cheap when up to date).
    pub migrate_on_start: bool,
}

/// Signing keys and token lifetimes (seconds).
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Signs the e-mailed links (and checks the Flask service's).
    pub flask_secret: Secret,
    pub jwt_secret: Secret,
    pub access_expiry: i64,
    pub refresh_expiry: i64,
}

/// The e-mailed links.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Host (and optional port) that e-mailed links are built on.
    pub public_host: String,
    /// Scheme for links built outside any request (the root user's registration e-mail).
    pub public_scheme: String,
    /// Lifetime of a password-reset link, seconds.
    pub reset_window: i64,
    /// Lifetime of the first set-password link of a new account, seconds.
    pub setup_window: i64,
}

/// The built-in `root` administrator.
#[derive(Debug, Clone)]
pub struct RootConfig {
    pub email: String,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub name: String,
    pub from: String,
    pub transport: EmailTransport,
    pub smtp: Option<SmtpConfig>,
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: i64,
    /// First retry delay, seconds; doubled per attempt, with jitter.
    pub retry_base: i64,
    /// SES endpoint override (a local emulator in tests).
    pub ses_endpoint: Option<String>,
    /// The `email` function to invoke after queueing mail (AWS), see `notify`.
    pub function_name: Option<String>,
    /// A full Invoke URL instead (another emulator).
    pub invoke_url: Option<String>,
    pub aws_region: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Redis, for rate limits shared by every instance; required in production. May hold
    /// a password: [`Secret`].
    pub redis_url: Option<Secret>,
    /// `RATELIMIT_DEFAULT`, per client IP per endpoint path; applied in production only.
    pub limits: Vec<crate::store::ratelimit::Limit>,
    /// Proxies (nginx) whose `X-Forwarded-For` names the client; empty: trust nobody.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone)]
pub struct CleanupConfig {
    pub interval: i64,
    /// How long delivered e-mails are kept before `cleanup` deletes them, seconds.
    pub outbox_retention: i64,
}

impl Config {
    /// Reads `.env` (if present; the environment wins) and then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", format!("cannot be read: {e}"))),
        }
        Self::from_vars(std::env::vars().collect())
    }

    /// Builds the configuration from a map of variables; the testable core of [`load`].
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Vars {
            production: vars.get("FLASK_ENV").map(|v| v.trim()) == Some("production"),
            vars,
        };
        Ok(Self {
            production: env.production,
            database: database(&env)?,
            tokens: tokens(&env)?,
            links: links(&env)?,
            root: RootConfig {
                email: env.required_in_production("ROOT_EMAIL", "root@localhost")?,
                password: env.get("ROOT_PASSWORD").map(Secret),
            },
            email: email(&env)?,
            limits: limits(&env)?,
            cleanup: CleanupConfig {
                interval: env.seconds("CLEANUP_INTERVAL", 3600)?,
                outbox_retention: env.seconds("OUTBOX_RETENTION", 30 * 24 * 3600)?,
            },
        })
    }
}

fn database(env: &Vars) -> Result<DatabaseConfig, ConfigError> {
    let data_dir = PathBuf::from(env.get("DATA_DIR").unwrap_or_else(|| "data".into()));
    Ok(DatabaseConfig {
        url: Secret(database_url(env, &data_dir)?),
        data_dir,
        migrate_on_start: env.flag("MIGRATE_ON_START", true)?,
    })
}

fn tokens(env: &Vars) -> Result<TokenConfig, ConfigError> {
    Ok(TokenConfig {
        flask_secret: env.secret("FLASK_SECRET", DEV_FLASK_SECRET)?,
        jwt_secret: env.secret("JWT_SECRET", DEV_JWT_SECRET)?,
        access_expiry: env.seconds("JWT_ACCESS_EXPIRY", 900)?,
        refresh_expiry: env.seconds("JWT_REFRESH_EXPIRY", 30 * 24 * 3600)?,
    })
}

fn links(env: &Vars) -> Result<LinkConfig, ConfigError> {
    let public_scheme = match env.get("PUBLIC_SCHEME") {
        None if env.production => "https".to_string(),
        None => "http".to_string(),
        Some(s) if s == "http" || s == "https" => s,
        Some(other) => {
            return Err(ConfigError::new(
                "PUBLIC_SCHEME",
                format!("must be http or https (got {other:?})"),
            ));
        }
    };
    Ok(LinkConfig {
        public_host: env.required_in_production("PUBLIC_HOST", "127.0.0.1:9000")?,
        public_scheme,
        reset_window: env.seconds("PW_RESET_WINDOW", 3600)?,
        setup_window: env.seconds("PW_SETUP_WINDOW", 7 * 24 * 3600)?,
    })
}

fn email(env: &Vars) -> Result<EmailConfig, ConfigError> {
    let smtp = smtp(env)?;
    Ok(EmailConfig {
        name: env
            .get("EMAIL_NAME")
            .unwrap_or_else(|| "BriefThreat".into()),
        from: env.required_in_production("EMAIL_FROM", "briefthreat@localhost")?,
        transport: email_transport(env, smtp.is_some())?,
        smtp,
        max_attempts: env.positive("EMAIL_MAX_ATTEMPTS", 8)?,
        retry_base: env.seconds("EMAIL_RETRY_BASE", 10)?,
        ses_endpoint: env.get("SES_ENDPOINT_URL"),
        function_name: env.get("EMAIL_FUNCTION_NAME"),
        invoke_url: env.get("EMAIL_INVOKE_URL"),
        aws_region: env
            .get("AWS_REGION")
            .or_else(|| env.get("AWS_DEFAULT_REGION")),
    })
}

fn smtp(env: &Vars) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(host) = env.get("SMTP_HOST") else {
        return Ok(None);
    };
    let security = match env.get("SMTP_SECURITY").as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            return Err(ConfigError::new(
                "SMTP_SECURITY",
                format!("must be one of starttls, tls, none (got {other:?})"),
            ));
        }
    };
    Ok(Some(SmtpConfig {
        host,
        port: env.parse_or("SMTP_PORT", 587, "must be a TCP port number (1-65535)")?,
        security,
        user: env.get("SMTP_USER"),
        password: env.get("SMTP_PASSWORD").map(Secret),
    }))
}

fn email_transport(env: &Vars, has_smtp: bool) -> Result<EmailTransport, ConfigError> {
    match env.get("EMAIL_TRANSPORT").as_deref() {
        None if has_smtp => Ok(EmailTransport::Smtp),
        None => Ok(EmailTransport::File),
        Some("smtp") if has_smtp => Ok(EmailTransport::Smtp),
        Some("smtp") => Err(ConfigError::new(
            "SMTP_HOST",
            "is required when EMAIL_TRANSPORT=smtp",
        )),
        Some("ses") => Ok(EmailTransport::Ses),
        Some("file") => Ok(EmailTransport::File),
        Some(other) => Err(ConfigError::new(
            "EMAIL_TRANSPORT",
            format!("must be one of smtp, ses, file (got {other:?})"),
        )),
    }
}

fn limits(env: &Vars) -> Result<RateLimitConfig, ConfigError> {
    let default = env
        .get("RATELIMIT_DEFAULT")
        .unwrap_or_else(|| "1000/hour;10000/day".into());
    let limits = crate::store::ratelimit::parse_limits(&default).map_err(|e| {
        ConfigError::new(
            "RATELIMIT_DEFAULT",
            format!("{e}: use flask-limiter notation, e.g. 20/second or 1000/hour;10000/day"),
        )
    })?;
    let proxies = env.get("TRUSTED_PROXIES").unwrap_or_default();
    Ok(RateLimitConfig {
        redis_url: redis_url(env)?.map(Secret),
        limits,
        trusted_proxies: crate::store::ratelimit::parse_networks(&proxies)
            .map_err(|e| ConfigError::new("TRUSTED_PROXIES", e))?,
    })
}

/// `DATABASE_URL` wins; otherwise the old deployment's `MYSQL_*` keys when `MYSQL_HOST`
/// is set; otherwise the embedded SQLite file under the data directory.
fn database_url(env: &Vars, data_dir: &std::path::Path) -> Result<String, ConfigError> {
    if let Some(url) = env.get("DATABASE_URL") {
        if url.starts_with("mysql://")
            || url.starts_with("mariadb://")
            || url.starts_with("sqlite:")
        {
            return Ok(url.replacen("mariadb://", "mysql://", 1));
        }
        return Err(ConfigError::new(
            "DATABASE_URL",
            "must start with mysql://, mariadb:// or sqlite:",
        ));
    }
    if let Some(host) = env.get("MYSQL_HOST") {
        let port: u16 = env.parse_or("MYSQL_PORT", 3306, "must be a TCP port number (1-65535)")?;
        let user = env
            .get("MYSQL_USER")
            .ok_or_else(|| ConfigError::new("MYSQL_USER", "is required when MYSQL_HOST is set"))?;
        let database = env.get("MYSQL_DATABASE").ok_or_else(|| {
            ConfigError::new("MYSQL_DATABASE", "is required when MYSQL_HOST is set")
        })?;
        let password = env.get("MYSQL_PASSWORD").unwrap_or_default();
        return Ok(format!(
            "mysql://{}:{}@{host}:{port}/{}",
            url_escape(&user),
            url_escape(&password),
            url_escape(&database)
        ));
    }
    Ok(format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("briefthreat.db").display()
    ))
}

/// Production needs Redis: without it rate limiting would be silently off.
fn redis_url(env: &Vars) -> Result<Option<String>, ConfigError> {
    match env.get("REDIS_URL") {
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(Some(url)),
        Some(_) => Err(ConfigError::new(
            "REDIS_URL",
            "must start with redis:// or rediss://",
        )),
        None if env.production => Err(ConfigError::new(
            "REDIS_URL",
            "is required when FLASK_ENV=production (rate limits live in Redis)",
        )),
        None => Ok(None),
    }
}

/// Percent-encodes what may not appear raw in a URL's user, password or path.
fn url_escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Vars {
    vars: HashMap<String, String>,
    production: bool,
}

impl Vars {
    /// A key counts as unset when absent or blank, as in the old `.env` files.
    fn get(&self, key: &str) -> Option<String> {
        self.vars
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A secret: the development value is refused in production, and so is none.
    fn secret(&self, key: &str, dev: &str) -> Result<Secret, ConfigError> {
        match self.get(key) {
            Some(v) if self.production && v == dev => Err(ConfigError::new(
                key,
                "must be set to a real secret when FLASK_ENV=production",
            )),
            Some(v) => Ok(Secret(v)),
            None if self.production => Err(ConfigError::new(
                key,
                "is required when FLASK_ENV=production (a long random string)",
            )),
            None => Ok(Secret(dev.to_string())),
        }
    }

    fn required_in_production(&self, key: &str, dev: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            Some(v) => Ok(v),
            None if self.production => Err(ConfigError::new(
                key,
                "is required when FLASK_ENV=production",
            )),
            None => Ok(dev.to_string()),
        }
    }

    fn parse_or<T: std::str::FromStr>(
        &self,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| ConfigError::new(key, format!("{expected} (got {raw:?})"))),
        }
    }

    fn seconds(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        let value: i64 = self.parse_or(key, default, "must be a whole number of seconds")?;
        if value <= 0 {
            return Err(ConfigError::new(
                key,
                format!("must be a positive number of seconds (got {value})"),
            ));
        }
        Ok(value)
    }

    fn positive(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        match self.parse_or(key, default, "must be a whole number")? {
            n if n > 0 => Ok(n),
            n => Err(ConfigError::new(
                key,
                format!("must be at least 1 (got {n})"),
            )),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self
            .get(key)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be true or false (got {other:?})"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_give_an_embedded_development_setup() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert!(!config.production);
        assert_eq!(
            config.database.url.expose(),
            "sqlite://data/briefthreat.db?mode=rwc"
        );
        assert_eq!(config.tokens.access_expiry, 900);
        assert!(config.email.smtp.is_none());
        assert_eq!(config.links.public_scheme, "http");
        assert_eq!(format!("{:?}", config.tokens.jwt_secret), "***");
        assert!(!format!("{config:?}").contains(DEV_JWT_SECRET));
    }

    #[test]
    fn malformed_expiry_names_the_key_in_one_line() {
        let err = Config::from_vars(vars(&[("JWT_ACCESS_EXPIRY", "abc")])).unwrap_err();
        assert_eq!(err.key, "JWT_ACCESS_EXPIRY");
        let line = err.to_string();
        assert!(line.contains("JWT_ACCESS_EXPIRY"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn production_requires_real_secrets() {
        let err = Config::from_vars(vars(&[("FLASK_ENV", "production")])).unwrap_err();
        assert_eq!(err.key, "FLASK_SECRET");
        let err = Config::from_vars(vars(&[
            ("FLASK_ENV", "production"),
            ("FLASK_SECRET", DEV_FLASK_SECRET),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "FLASK_SECRET");
    }

    #[test]
    fn old_mysql_keys_build_the_database_url() {
        let config = Config::from_vars(vars(&[
            ("MYSQL_HOST", "db"),
            ("MYSQL_USER", "brief"),
            ("MYSQL_PASSWORD", "p@ss word"),
            ("MYSQL_DATABASE", "briefthreat"),
        ]))
        .unwrap();
        assert_eq!(
            config.database.url.expose(),
            "mysql://brief:p%40ss%20word@db:3306/briefthreat"
        );
    }

    #[test]
    fn database_url_wins_and_mariadb_scheme_is_accepted() {
        let config = Config::from_vars(vars(&[
            ("DATABASE_URL", "mariadb://u:p@127.0.0.1:3307/x"),
            ("MYSQL_HOST", "db"),
        ]))
        .unwrap();
        assert_eq!(config.database.url.expose(), "mysql://u:p@127.0.0.1:3307/x");
        let err = Config::from_vars(vars(&[("DATABASE_URL", "postgres://x")])).unwrap_err();
        assert_eq!(err.key, "DATABASE_URL");
    }

    #[test]
    fn smtp_settings_default_to_starttls_on_587() {
        let config = Config::from_vars(vars(&[("SMTP_HOST", "mail.example.org")])).unwrap();
        let smtp = config.email.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        let err =
            Config::from_vars(vars(&[("SMTP_HOST", "x"), ("SMTP_SECURITY", "ssl")])).unwrap_err();
        assert_eq!(err.key, "SMTP_SECURITY");
    }

    #[test]
    fn rate_limits_and_trusted_proxies_are_read_and_checked() {
        let config = Config::from_vars(vars(&[
            ("RATELIMIT_DEFAULT", "20/second"),
            ("TRUSTED_PROXIES", "127.0.0.1, 172.30.0.0/24"),
        ]))
        .unwrap();
        assert_eq!(config.limits.limits[0].to_string(), "20 per 1 second");
        assert_eq!(config.limits.trusted_proxies.len(), 2);
        let err = Config::from_vars(vars(&[("RATELIMIT_DEFAULT", "lots")])).unwrap_err();
        assert_eq!(err.key, "RATELIMIT_DEFAULT");
        let err = Config::from_vars(vars(&[("TRUSTED_PROXIES", "nginx")])).unwrap_err();
        assert_eq!(err.key, "TRUSTED_PROXIES");
    }

    #[test]
    fn production_requires_redis_for_rate_limits() {
        let production = [
            ("FLASK_ENV", "production"),
            ("FLASK_SECRET", "a-real-flask-secret"),
            ("JWT_SECRET", "a-real-jwt-secret"),
            ("PUBLIC_HOST", "briefthreat.example.org"),
            ("ROOT_EMAIL", "root@example.org"),
            ("EMAIL_FROM", "noreply@example.org"),
        ];
        let err = Config::from_vars(vars(&production)).unwrap_err();
        assert_eq!(err.key, "REDIS_URL");
        let mut with_redis = production.to_vec();
        with_redis.push(("REDIS_URL", "redis://redis:6379/"));
        assert!(Config::from_vars(vars(&with_redis)).unwrap().production);
    }
}
