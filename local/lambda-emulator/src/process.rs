//! The functions' processes: `migrate` once, then every instance of every function, each
//! in its own process group, watched and restarted; their output re-emitted as JSON lines.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ids;
use crate::lambda::{Function, Instance, Service};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a process may take to leave after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Longest function output line re-emitted whole; longer ones are split.
const MAX_LINE: usize = 64 * 1024;
const MIGRATE_PATIENCE: Duration = Duration::from_secs(120);
const MIGRATE_PAUSE: Duration = Duration::from_secs(2);

/// What every instance's environment gets on top of the emulator's own.
#[derive(Clone)]
pub struct Environment {
    /// `http://host:port` of the internal listener.
    pub runtime_base: String,
    pub extra: Vec<(String, String)>,
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn signal_group(pid: Option<u32>, signal: libc::c_int) {
    let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; the group is the child's own (process_group(0)),
    // and the child is not reaped yet, so its id cannot have been reused.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Starts every instance of every function; the set ends once `shutdown` is cancelled and
/// every process has stopped.
pub fn start(service: Arc<Service>, env: Environment, shutdown: CancellationToken) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let mut functions: Vec<_> = service.functions.values().cloned().collect();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    for function in functions {
        for slot in 0..function.instances {
            set.spawn(run_slot(
                service.clone(),
                function.clone(),
                slot,
                env.clone(),
                shutdown.clone(),
            ));
        }
    }
    set
}

/// One instance slot: its process, restarted with backoff (100 ms doubling to 5 s, back to
/// 100 ms after a process that served) until shutdown.
async fn run_slot(
    service: Arc<Service>,
    function: Arc<Function>,
    slot: usize,
    env: Environment,
    shutdown: CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    while !shutdown.is_cancelled() {
        let instance = Arc::new(Instance::new(function.clone(), slot, ids::token()));
        service.register(instance.clone());
        let ended = match spawn(&instance, &env) {
            Ok(mut child) => {
                let status = supervise(&instance, &mut child, &shutdown).await;
                format!("the process exited ({status})")
            }
            Err(e) => format!("cannot start {}: {e}", function.binary.display()),
        };
        instance.died(&ended);
        service.unregister(&instance.token);
        if shutdown.is_cancelled() {
            break;
        }
        if instance.served() > 0 {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(
            function = %function.name, instance = slot, restart_in_ms = backoff.as_millis() as u64,
            "{ended}; restarting"
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(instance: &Arc<Instance>, env: &Environment) -> std::io::Result<Child> {
    let function = &instance.function;
    let mut command = Command::new(&function.binary);
    command
        .envs(env.extra.iter().map(|(k, v)| (k, v)))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("{}/{}/{}", env.runtime_base, function.name, instance.token),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", &*function.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .envs((function.concurrency > 1).then(|| {
            (
                "AWS_LAMBDA_MAX_CONCURRENCY",
                function.concurrency.to_string(),
            )
        }))
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/{}/{}", instance.slot, instance.token),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, instance.clone(), "stdout"));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, instance.clone(), "stderr"));
    }
    tracing::debug!(function = %function.name, instance = instance.slot, pid = child.id(), "started");
    Ok(child)
}

/// Waits for the process to exit; meanwhile kills it when an invocation runs past its
/// deadline, and stops it (SIGTERM, then SIGKILL) on shutdown.
async fn supervise(instance: &Instance, child: &mut Child, shutdown: &CancellationToken) -> String {
    let pid = child.id();
    let mut deadlines = instance.deadline_watch();
    let mut deadline: Option<Instant> = None;
    loop {
        let overdue = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => return describe(status),
            () = overdue => {
                // What still runs once the overdue are out (a deadline met just in time
                // leaves none overdue).
                deadline = *deadlines.borrow_and_update();
                if let Some(id) = instance.time_out() {
                    deadline = None;
                    tracing::warn!(
                        function = %instance.function.name, instance = instance.slot, request_id = %id,
                        timeout_s = instance.function.timeout.as_secs_f64(),
                        "the invocation ran past its deadline; killing the instance"
                    );
                    signal_group(pid, libc::SIGKILL);
                }
            }
            changed = deadlines.changed() => {
                if changed.is_ok() {
                    deadline = *deadlines.borrow_and_update();
                }
            }
            () = shutdown.cancelled() => {
                signal_group(pid, libc::SIGTERM);
                let status = match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        signal_group(pid, libc::SIGKILL);
                        child.wait().await
                    }
                };
                return describe(status);
            }
        }
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// Re-emits a child's output, one JSON line per line, with the invocation it was serving.
async fn pump<R: AsyncRead + Unpin>(reader: R, instance: Arc<Instance>, stream: &'static str) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let request_id = instance.current_request_id();
        tracing::info!(
            r#type = "function",
            function = %instance.function.name,
            instance = instance.slot,
            request_id = request_id.as_deref(),
            stream,
            "{}",
            String::from_utf8_lossy(&line)
        );
    }
}

/// One line (up to `MAX_LINE` bytes) into `line`; 0 at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(line.len());
        }
        let room = MAX_LINE - line.len();
        if let Some(i) = buf.iter().take(room).position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..=i]);
            reader.consume(i + 1);
            return Ok(line.len());
        }
        let take = buf.len().min(room);
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if line.len() >= MAX_LINE {
            return Ok(line.len());
        }
    }
}

/// Runs `<bin_dir>/migrate` until it succeeds, for up to two minutes (the database may still
/// be starting); its output passes through. `Err` says why the emulator must stop.
pub async fn migrate(bin_dir: &Path, shutdown: &CancellationToken) -> Result<(), String> {
    let binary = bin_dir.join("migrate");
    if !is_executable(&binary) {
        tracing::warn!(path = %binary.display(), "no migrate binary: skipping migrations");
        return Ok(());
    }
    let give_up = Instant::now() + MIGRATE_PATIENCE;
    loop {
        let mut child = Command::new(&binary)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let status = tokio::select! {
            status = child.wait() => status,
            () = tokio::time::sleep_until(give_up.into()) => {
                return Err(format!("migrate did not finish within {}s", MIGRATE_PATIENCE.as_secs()));
            }
            () = shutdown.cancelled() => return Err("stopped while migrating".into()),
        };
        match status {
            Ok(s) if s.success() => {
                tracing::info!("database migrated");
                return Ok(());
            }
            Ok(s) if Instant::now() + MIGRATE_PAUSE < give_up => {
                tracing::warn!(status = %s, "migrate failed; retrying in 2 s");
            }
            Ok(s) => {
                return Err(format!(
                    "migrate kept failing for {}s ({s})",
                    MIGRATE_PATIENCE.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for migrate: {e}")),
        }
        tokio::select! {
            () = tokio::time::sleep(MIGRATE_PAUSE) => {}
            () = shutdown.cancelled() => return Err("stopped while migrating".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_split_and_the_last_line_needs_no_newline() {
        let long = vec![b'x'; MAX_LINE + 10];
        let mut input = b"one\r\ntwo\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nlast");
        let mut reader = BufReader::with_capacity(1000, &input[..]);
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            if read_line(&mut reader, &mut line).await.unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        assert_eq!(lines[0], b"one\r\n");
        assert_eq!(lines[1], b"two\n");
        assert_eq!(lines[2].len(), MAX_LINE);
        assert_eq!(lines[3], b"xxxxxxxxxx\n");
        assert_eq!(lines[4], b"last");
        assert_eq!(lines.len(), 5);
    }
}
