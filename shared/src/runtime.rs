//! Cold-start plumbing shared by every function: logging, configuration, database,
//! migrations and the root bootstrap, then the Lambda event loop.

use std::future::Future;

use lambda_http::http::header::ACCEPT_ENCODING;
use lambda_http::{Body, Error, Request, Response, service_fn};

use crate::http::compress;

use crate::{AppState, Config, Db};

/// Process-wide set-up, first thing in every `main`: the TLS crypto provider, and logs to
/// stderr (CloudWatch in AWS), level from `RUST_LOG`, `info` by default.
pub fn init_process() {
    // rustls is built with both ring and aws-lc-rs in this workspace (the AWS SDK brings
    // the latter), so it cannot pick one by itself: every TLS client here uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints one line and exits: configuration and start-up problems are the operator's to
/// fix, and a panic backtrace would only bury the key that needs fixing.
pub fn exit_with(message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

/// Builds the state every invocation borrows: configuration, pool, keys; and, unless
/// `MIGRATE_ON_START=false`, the schema and the root user.
pub async fn prepare() -> Result<AppState, String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    let migrate = config.migrate_on_start;
    connect(config, migrate).await
}

/// `prepare` with migrations and the root bootstrap forced on: the `migrate` step.
pub async fn prepare_and_bootstrap() -> Result<AppState, String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    connect(config, true).await
}

async fn connect(config: Config, migrate: bool) -> Result<AppState, String> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let state = AppState::new(config, db);
    if migrate {
        state
            .db
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate the database: {e}"))?;
        crate::auth::ensure_root(&state)
            .await
            .map_err(|e| format!("cannot create the root user: {e}"))?;
    }
    Ok(state)
}

/// `prepare`, or exit with its one line; the state lives as long as the process.
pub async fn state_or_exit() -> &'static AppState {
    match prepare().await {
        Ok(state) => Box::leak(Box::new(state)),
        Err(message) => exit_with(message),
    }
}

/// Runs an HTTP function: `prepare` once, then serve every invocation with `handler`.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static AppState, Request) -> Fut + Send + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    init_process();
    let state = state_or_exit().await;
    lambda_http::run(service_fn(|req: Request| {
        let accept_encoding = req.headers().get(ACCEPT_ENCODING).cloned();
        let response = handler(state, req);
        async move { Ok::<_, Error>(compress(accept_encoding.as_ref(), response.await)) }
    }))
    .await
}

/// The database URL without its password, for logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
