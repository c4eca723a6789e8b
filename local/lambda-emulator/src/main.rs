//! `lambda-emulator`: API Gateway (HTTP API, payload format 2.0) and the Lambda service on
//! one machine, for the function binaries of a bin directory.
//!
//! - public listener (`--listen`): the route table's paths, as API Gateway serves them;
//! - internal listener (`--internal`, loopback): the Runtime API the processes poll, under
//!   a prefix per instance, and the Invoke API (`EMAIL_INVOKE_URL`);
//! - processes: `migrate` once, then `--instances` processes of each HTTP function (one of
//!   `email` and `cleanup`), each running `--concurrency` invocations at once (default one
//!   at a time), restarted when they die;
//! - the schedules of template.yaml; one JSON log line per request and per output line.

mod apigw;
mod body;
mod cli;
mod ids;
mod lambda;
mod logs;
mod process;
mod public;
mod routes;
mod runtime_api;
mod schedule;
mod server;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::cli::{Command, Options};
use crate::lambda::{Function, Service};
use crate::routes::RouteTable;

/// Functions run on a schedule or by Invoke, not behind a route: one instance each, and
/// template.yaml's timeouts.
const EVENT_FUNCTIONS: [(&str, Duration); 2] = [
    ("email", Duration::from_secs(120)),
    ("cleanup", Duration::from_secs(60)),
];
/// How long requests in flight may take to finish after SIGTERM.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    return_large_buffers_when_freed();
    let port = std::env::var("PORT").ok();
    let options = match cli::parse(std::env::args().skip(1), port.as_deref()) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lambda-emulator: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let lines = logs::init();
    let workers = std::env::var("LAMBDA_EMULATOR_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1);
    let mut builder = match workers {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lambda-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    };
    lines.flush();
    // Pump tasks may still wait on pipes of processes that are gone: do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

/// glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB),
/// after which bodies that large come from the heap and stay: after a burst of big
/// responses the emulator would keep their megabytes. A fixed threshold gives every block
/// of 256 KiB or more back to the kernel when it is freed.
fn return_large_buffers_when_freed() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a parameter of the allocator, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn load_routes(options: &Options) -> Result<RouteTable, String> {
    match &options.routes {
        None => RouteTable::from_manifest(routes::EMBEDDED_MANIFEST)
            .map_err(|e| format!("the built-in route table: {e}")),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| RouteTable::from_manifest(&text))
            .map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// The functions to serve: those the route table names and the event functions, when their
/// binary is in the bin directory; never `migrate`.
fn functions(options: &Options, routes: &RouteTable) -> Vec<Function> {
    let mut served = Vec::new();
    let routed = routes.functions();
    let names = routed
        .iter()
        .map(|n| &**n)
        .chain(EVENT_FUNCTIONS.iter().map(|(n, _)| *n));
    for name in names {
        if name == "migrate" || served.iter().any(|f: &Function| &*f.name == name) {
            continue;
        }
        let binary = options.bin_dir.join(name);
        if !process::is_executable(&binary) {
            if routed.iter().any(|r| &**r == name) {
                tracing::warn!(function = name, path = %binary.display(), "no binary: requests routed to it get 500");
            }
            continue;
        }
        let (timeout, instances, concurrency) =
            match EVENT_FUNCTIONS.iter().find(|(n, _)| *n == name) {
                Some((_, timeout)) => (*timeout, 1, 1),
                None => (options.timeout, options.instances, options.concurrency),
            };
        served.push(Function::new(name, binary, timeout, instances, concurrency));
    }
    served
}

/// Where the processes reach the internal listener (a wildcard address means loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
}

/// Cancels `stop` on the first SIGTERM or SIGINT.
fn on_signals(stop: CancellationToken) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "stopping: finishing requests in flight");
        stop.cancel();
        // A second signal means now: the processes leave by themselves once the
        // Runtime API is gone.
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting at once");
        std::process::exit(1);
    });
    Ok(())
}

async fn run(options: Options) -> Result<(), String> {
    let routes = load_routes(&options)?;
    let dotenv = std::fs::read_to_string(".env").unwrap_or_default();
    let schedules = schedule::Schedules::from_settings(|key| schedule::setting(key, &dotenv))?;
    let service = Arc::new(Service::new(functions(&options, &routes)));
    let listeners = Listeners::bind(&options).await?;

    let stop = CancellationToken::new();
    on_signals(stop.clone())?;
    let internal = InternalServer::start(listeners.internal, service.clone());
    if options.migrate
        && let Err(e) = process::migrate(&options.bin_dir, &stop).await
    {
        internal.stop.cancel();
        return match stop.is_cancelled() {
            true => Ok(()),
            false => Err(e),
        };
    }
    let instances = Instances::start(&service, &listeners.runtime_base);
    let schedules = schedule::start(&service, &schedules, stop.clone());
    announce(
        &service,
        listeners.public_addr,
        listeners.internal_addr,
        &options,
    );

    serve_public(listeners.public, routes, service.clone(), stop).await;
    drain(schedules, instances, internal).await;
    Ok(())
}

/// Both listeners, bound; the internal address written where `--internal-addr-file` says.
struct Listeners {
    internal: TcpListener,
    public: TcpListener,
    internal_addr: SocketAddr,
    public_addr: SocketAddr,
    /// The Runtime API's base URL as the processes reach it.
    runtime_base: String,
}

impl Listeners {
    async fn bind(options: &Options) -> Result<Self, String> {
        let internal = bind(options.internal, "internal API").await?;
        let public = bind(options.listen, "public API").await?;
        let internal_addr = internal.local_addr().map_err(|e| e.to_string())?;
        let public_addr = public.local_addr().map_err(|e| e.to_string())?;
        let runtime_base = format!("http://{}", reachable(internal_addr));
        eprintln!("internal API on {runtime_base}");
        if let Some(file) = &options.internal_addr_file {
            write_atomically(file, &reachable(internal_addr).to_string())
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
        Ok(Listeners {
            internal,
            public,
            internal_addr,
            public_addr,
            runtime_base,
        })
    }
}

/// The internal listener (Runtime and Invoke APIs), served until `stop` is cancelled.
struct InternalServer {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl InternalServer {
    fn start(listener: TcpListener, service: Arc<Service>) -> Self {
        let stop = CancellationToken::new();
        let internal_api = Arc::new(runtime_api::Internal { service });
        let task = tokio::spawn(server::serve(
            listener,
            move |request, peer| internal_api.clone().handle(request, peer),
            server::Settings {
                header_read_timeout: None,
                grace: Duration::from_secs(1),
            },
            stop.clone(),
        ));
        InternalServer { task, stop }
    }
}

/// The functions' processes, running until `stop` is cancelled.
struct Instances {
    processes: JoinSet<()>,
    stop: CancellationToken,
}

impl Instances {
    /// Starts every instance, with `EMAIL_INVOKE_URL` pointing at the Invoke API when
    /// `email` is served and the environment does not set it.
    fn start(service: &Arc<Service>, runtime_base: &str) -> Self {
        let mut extra = Vec::new();
        let invoke_url_set = std::env::var("EMAIL_INVOKE_URL").is_ok_and(|v| !v.trim().is_empty());
        if service.function("email").is_some() && !invoke_url_set {
            extra.push((
                "EMAIL_INVOKE_URL".to_string(),
                format!("{runtime_base}/2015-03-31/functions/email/invocations"),
            ));
        }
        let stop = CancellationToken::new();
        let processes = process::start(
            service.clone(),
            process::Environment {
                runtime_base: runtime_base.to_string(),
                extra,
            },
            stop.clone(),
        );
        Instances { processes, stop }
    }
}

/// The start-up line: where, which functions, how many instances.
fn announce(
    service: &Service,
    public_addr: SocketAddr,
    internal_addr: SocketAddr,
    options: &Options,
) {
    let mut names: Vec<&str> = service.functions.keys().map(|n| &**n).collect();
    names.sort_unstable();
    tracing::info!(
        public = %public_addr, internal = %internal_addr, functions = names.join(","),
        instances = options.instances, concurrency = options.concurrency,
        "serving on http://{public_addr}"
    );
}

/// Serves the public listener until `stop` is cancelled and the requests in flight are done
/// (`DRAIN_GRACE` at most).
async fn serve_public(
    public: TcpListener,
    routes: RouteTable,
    service: Arc<Service>,
    stop: CancellationToken,
) {
    let gateway = Arc::new(public::Gateway { routes, service });
    server::serve(
        public,
        move |request, peer| gateway.clone().handle(request, peer),
        server::Settings {
            header_read_timeout: Some(Duration::from_secs(30)),
            grace: DRAIN_GRACE,
        },
        stop,
    )
    .await;
}

/// After the public listener: the schedules stop, then the functions, then the internal
/// listener they were polling.
async fn drain(mut schedules: JoinSet<()>, instances: Instances, internal: InternalServer) {
    schedules.shutdown().await;
    instances.stop.cancel();
    let mut processes = instances.processes;
    while processes.join_next().await.is_some() {}
    internal.stop.cancel();
    let _ = internal.task.await;
    tracing::info!("stopped");
}
