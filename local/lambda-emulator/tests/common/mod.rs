//! The emulator binary started for a test: a temporary bin directory whose functions are
//! all the probe (`examples/probe.rs`, behaving by its name), a route table, free ports,
//! and an HTTP client. Stopped (and its directory removed) when dropped.

#![allow(dead_code)]

pub mod pattern;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The probe, built by `cargo test` with the other examples.
pub fn probe() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let probe = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join("probe"))
        .expect("target/<profile>/examples");
    assert!(
        probe.exists(),
        "{} is missing: build it with `cargo build -p lambda-emulator --example probe` \
         (plain `cargo test -p lambda-emulator` builds it)",
        probe.display()
    );
    probe
}

pub struct Options {
    /// Functions in the bin directory, each a link to the probe.
    pub functions: Vec<&'static str>,
    /// The route table's entries (`"/path" = "function"` lines).
    pub routes: &'static str,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// A shell script to install as `bin/migrate`; without one, `--no-migrate`.
    pub migrate: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            functions: vec!["probe", "raw", "fallback"],
            routes: "\"/probe\" = \"probe\"\n\"/raw\" = \"raw\"\n\"/{*path}\" = \"fallback\"\n",
            args: vec!["--instances".into(), "2".into()],
            env: Vec::new(),
            migrate: None,
        }
    }
}

pub struct Emulator {
    child: Option<Child>,
    pub public: SocketAddr,
    pub internal: SocketAddr,
    pub dir: PathBuf,
    pub client: HttpClient,
    log: Arc<Mutex<Vec<String>>>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector)
}

impl Emulator {
    pub fn start(options: Options) -> Emulator {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lambda-emulator-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let probe = probe();
        for name in &options.functions {
            std::os::unix::fs::symlink(&probe, bin.join(name)).unwrap();
        }
        if let Some(script) = options.migrate {
            use std::os::unix::fs::PermissionsExt;
            let path = bin.join("migrate");
            std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let routes = dir.join("routes.toml");
        std::fs::write(
            &routes,
            format!(
                "[workspace.metadata.lambda.watch.router]\n{}",
                options.routes
            ),
        )
        .unwrap();
        let addr_file = dir.join("internal-addr");
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_lambda-emulator"));
        command
            .arg("--bin-dir")
            .arg(&bin)
            .arg("--routes")
            .arg(&routes)
            .arg("--port")
            .arg(port.to_string())
            .arg("--internal-addr-file")
            .arg(&addr_file)
            .args(options.migrate.is_none().then_some("--no-migrate"))
            .args(&options.args)
            .env_remove("PORT")
            .env_remove("EMAIL_INVOKE_URL")
            .env_remove("FLASK_ENV")
            .env("PROBE_RECORD", dir.join("record.txt"))
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the emulator starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let public = SocketAddr::from(([127, 0, 0, 1], port));
        let give_up = Instant::now() + Duration::from_secs(30);
        let internal = loop {
            if let Ok(addr) = std::fs::read_to_string(&addr_file)
                .map_err(|_| ())
                .and_then(|text| text.trim().parse().map_err(|_| ()))
            {
                break addr;
            }
            assert!(Instant::now() < give_up, "no internal address file");
            std::thread::sleep(Duration::from_millis(20));
        };
        while TcpStream::connect(public).is_err() {
            assert!(
                Instant::now() < give_up,
                "the emulator does not listen on {public}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Emulator {
            child: Some(child),
            public,
            internal,
            dir,
            client: client(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    pub fn internal_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.internal)
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The JSON log lines whose `type` is `kind`.
    pub fn log_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == kind)
            .collect()
    }

    /// The first log line of type `kind` that `matches`, waiting for it (the emulator
    /// writes its log a moment after answering).
    pub fn find_log(
        &self,
        kind: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.log_of(kind).into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(Instant::now() < give_up, "no {kind} log line as expected");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a raw stderr line that `matches`.
    pub fn find_log_line(&self, matches: impl Fn(&str) -> bool) -> String {
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.log_lines().into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(Instant::now() < give_up, "no such line in the log");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// Waits for the emulator to exit (at most `limit`).
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().unwrap();
        let give_up = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > give_up {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            // SAFETY: plain kill(2) on our own child.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let give_up = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- emulator log ---");
            for line in self.log.lock().unwrap().iter().rev().take(200).rev() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Answer {
    let response = client.request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the whole body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(client: &HttpClient, url: &str) -> Answer {
    send(client, Request::get(url).body(Full::default()).unwrap()).await
}

pub async fn post(client: &HttpClient, url: &str, body: impl Into<Bytes>) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .body(Full::new(body.into()))
        .unwrap();
    send(client, request).await
}
