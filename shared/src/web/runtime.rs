//! Cold-start plumbing shared by every function: logging, configuration, database,
//! migrations and the root bootstrap, then the Lambda event loop.

use std::future::Future;

use futures_util::future::BoxFuture;
use lambda_http::http::header::ACCEPT_ENCODING;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::store::ratelimit;
use crate::web::http::{ApiError, Finished, compress, normalized_path};
use crate::web::wire::{self, LargeBody, front_decodes_base64};

use crate::{AppState, Config, Db};

/// Process-wide set-up, first thing in every `main`: the TLS crypto provider, and logs to
/// stderr (CloudWatch in AWS), level from `RUST_LOG`, `info` by default.
pub fn init_process() {
    return_large_buffers_when_freed();
    // Every TLS client here uses ring (the AWS SDK in `email` too, without aws-lc): named
    // once for the process, so that no client depends on which providers rustls was built with.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .without_time()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .try_init();
}

/// glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB);
/// from then on blocks that large come from the heap and stay with the process. One that
/// once served sixteen 10,000-form lists at once would keep their megabytes for good. A
/// fixed threshold keeps every block of 256 KiB or more mapped on its own, given back to
/// the kernel when freed.
pub fn return_large_buffers_when_freed() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a parameter of the allocator; it is called first thing,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// `RUST_LOG` as `level` or `target=level,...` (`info` when unset or unreadable).
/// `Targets` rather than `EnvFilter`: the same directives for what we log, without the
/// regex engine EnvFilter links into every function (about 300 KiB).
fn log_filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Prints one line and exits: configuration and start-up problems are the operator's to
/// fix, and a panic backtrace would only bury the key that needs fixing.
pub fn exit_with(message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

/// Builds the state every invocation borrows: configuration, pool, keys; and, unless
/// `MIGRATE_ON_START=false`, the schema and the root user. Private: the function crates
/// await it through the boxed [`state_or_exit`] (see the crate's docs).
async fn prepare() -> Result<AppState, String> {
    let config = Config::load().map_err(|e| e.to_string())?;
    let migrate = config.database.migrate_on_start;
    connect(config, migrate).await
}

/// `prepare` with migrations and the root bootstrap forced on: the `migrate` step.
pub fn prepare_and_bootstrap() -> BoxFuture<'static, Result<AppState, String>> {
    Box::pin(async move {
        let config = Config::load().map_err(|e| e.to_string())?;
        connect(config, true).await
    })
}

/// Configuration, pool and schema, without the root bootstrap: `migrate --import-flask`,
/// whose target must still be empty when it starts (the old `root` becomes the root).
pub fn prepare_schema_only() -> BoxFuture<'static, Result<AppState, String>> {
    Box::pin(async move {
        let config = Config::load().map_err(|e| e.to_string())?;
        let state = connect(config, false).await?;
        migrate_schema(&state).await?;
        Ok(state)
    })
}

async fn migrate_schema(state: &AppState) -> Result<(), String> {
    state
        .db
        .migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))
}

async fn connect(config: Config, migrate: bool) -> Result<AppState, String> {
    let db = Db::connect(config.database.url.expose())
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let state = AppState::new(config, db).map_err(|e| format!("REDIS_URL: {e}"))?;
    if migrate {
        migrate_schema(&state).await?;
        crate::app::accounts::ensure_root(&state)
            .await
            .map_err(|e| format!("cannot create the root user: {e}"))?;
    }
    Ok(state)
}

/// `prepare`, or exit with its one line; the state lives as long as the process.
pub fn state_or_exit() -> BoxFuture<'static, &'static AppState> {
    Box::pin(async move {
        match prepare().await {
            Ok(state) => &*Box::leak(Box::new(state)),
            Err(message) => exit_with(message),
        }
    })
}

/// Runs an HTTP function: `prepare` once, then serve every invocation with `handler`,
/// rate limited first (contract: 429 comes before any other check). Invocations run one
/// at a time, or `AWS_LAMBDA_MAX_CONCURRENCY` at once, interleaved on the function's tokio
/// runtime, when the runtime sets it (the self-hosted emulator's `--concurrency`): waits
/// for the database overlap, and one process holds one set of connections.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static AppState, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_http(handler, true).await
}

/// `run_http` without rate limits: for `fallback`, whose 404s, redirects and static
/// logo are no endpoint of the API (flask-limiter did not count them either), and for
/// `/health`, which monitors poll and which must keep answering during an attack.
pub async fn run_http_unlimited<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(&'static AppState, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_http(handler, false).await
}

async fn serve_http<F, Fut>(handler: F, rate_limited: bool) -> Result<(), Error>
where
    F: Fn(&'static AppState, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_process();
    let state = state_or_exit().await;
    // lambda_http's own loop (`run_concurrent`), with a large body written by `WireResponse`.
    lambda_runtime::run_concurrent(lambda_runtime::service_fn(
        move |event: LambdaEvent<LambdaRequest>| {
            wire::invoke(event, move |req, large_body| {
                serve(state, handler, rate_limited, req, large_body)
            })
        },
    ))
    .await
}

/// One request: rate limited first (when `rate_limited`), then `handler`; the response
/// compressed when the client accepts it, a large body set aside for `WireResponse`.
async fn serve<F, Fut>(
    state: &'static AppState,
    handler: F,
    rate_limited: bool,
    req: Request,
    large_body: LargeBody,
) -> Result<Finished, Error>
where
    F: Fn(&'static AppState, Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let accept_encoding = req.headers().get(ACCEPT_ENCODING).cloned();
    let front_decodes_base64 = front_decodes_base64(&req);
    let over = match rate_limited {
        true => limit_exceeded(state, &req).await,
        false => None,
    };
    let response = match over {
        Some(limit) => ApiError::TooManyRequests(limit.to_string()).into_response(),
        None => handler(state, req).await,
    };
    let mut response = compress(accept_encoding.as_ref(), response);
    large_body.set_aside(front_decodes_base64, &mut response);
    Ok(Finished(response))
}

/// Counts the request against its client's limits on its path (any run of leading
/// slashes counts as one path).
fn limit_exceeded<'a>(
    state: &'a AppState,
    req: &'a Request,
) -> BoxFuture<'a, Option<ratelimit::Limit>> {
    Box::pin(async move {
        let forwarded_for = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = ratelimit::client_ip(
            source_ip(req),
            forwarded_for,
            &state.config.limits.trusted_proxies,
        )
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        state
            .rate_limit_exceeded(&client, &normalized_path(req.uri().path()))
            .await
            .copied()
    })
}

/// The address that connected to API Gateway (or to the local emulator).
fn source_ip(req: &Request) -> Option<std::net::IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        _ => None,
    }?;
    ip.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_reads_a_level_or_per_target_levels() {
        let unset = log_filter(None);
        assert!(unset.would_enable("shared", &Level::INFO));
        assert!(!unset.would_enable("shared", &Level::DEBUG));
        let warn = log_filter(Some("warn"));
        assert!(warn.would_enable("hyper", &Level::WARN));
        assert!(!warn.would_enable("hyper", &Level::INFO));
        let mixed = log_filter(Some("info,hyper=warn,shared=debug"));
        assert!(mixed.would_enable("shared::store", &Level::DEBUG));
        assert!(!mixed.would_enable("hyper::proto", &Level::INFO));
        assert!(mixed.would_enable("lambda_runtime", &Level::INFO));
        assert!(!mixed.would_enable("lambda_runtime", &Level::DEBUG));
        // unreadable: the default, not silence
        assert!(log_filter(Some("shared=loud")).would_enable("shared", &Level::INFO));
    }
}
