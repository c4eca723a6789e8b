//! Command line: `lambda-emulator --bin-dir DIR [options]` (see `USAGE`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Invocations at once per instance unless `--concurrency` says: Lambda Managed Instances'
/// lowest default (Python's, per vCPU).
pub const DEFAULT_CONCURRENCY: usize = 16;

pub const USAGE: &str = "\
usage: lambda-emulator --bin-dir DIR [options]

Serves the function binaries of DIR like API Gateway (HTTP API, payload format 2.0) in front
of the Lambda service: routes from the route table, several instances per function, the
Runtime and Invoke APIs on a separate internal address, the schedules of template.yaml.

  --bin-dir DIR              the function binaries (target/debug, target/release, /app/bin)
  --listen ADDR              public address (default 127.0.0.1:9000, or 127.0.0.1:$PORT)
  --port P                   shorthand for --listen 127.0.0.1:P
  --internal ADDR            Runtime and Invoke API address (default 127.0.0.1:0)
  --internal-addr-file FILE  write the internal address chosen to FILE
  --instances N              instances per HTTP function (default 1)
  --concurrency N            invocations one instance of an HTTP function runs at once,
                             as on Lambda Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY;
                             default 16; 1: one at a time, as in Lambda without them)
  --routes FILE              TOML file holding [workspace.metadata.lambda.watch.router]
                             (default: the workspace Cargo.toml built into the binary)
  --timeout SECS             per-invocation timeout of HTTP functions (default 29)
  --no-migrate               do not run DIR/migrate before starting the functions

Environment (for the schedules, .env in the working directory fills in what it lacks):
  PORT                       public port when neither --listen nor --port is given
  EMAIL_SCHEDULE_SECONDS     the email backstop schedule (default 60)
  FLASK_ENV, CLEANUP_INTERVAL  cleanup every CLEANUP_INTERVAL s (default 3600) in production
  LAMBDA_EMULATOR_LOG        error, warn, info (default) or debug; RUST_LOG is the functions'
  LAMBDA_EMULATOR_WORKERS    event-loop threads (default 1: the lowest latency measured)
The functions inherit the environment, plus the Lambda variables and EMAIL_INVOKE_URL.
";

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub bin_dir: PathBuf,
    pub listen: SocketAddr,
    pub internal: SocketAddr,
    pub internal_addr_file: Option<PathBuf>,
    pub instances: usize,
    pub concurrency: usize,
    pub routes: Option<PathBuf>,
    pub timeout: Duration,
    pub migrate: bool,
}

/// What the command line asked for: to run, or only the usage text.
#[derive(Debug)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments (without the program name); `port_env` is `$PORT`.
pub fn parse<I>(args: I, port_env: Option<&str>) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
{
    let mut flags = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag=value` or `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let value = || {
            inline
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        flags.set(flag, value)?;
    }
    flags.into_options(port_env).map(Command::Run)
}

/// The options as given, before the defaults.
#[derive(Default)]
struct Flags {
    bin_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    port: Option<u16>,
    internal: Option<SocketAddr>,
    internal_addr_file: Option<PathBuf>,
    instances: Option<usize>,
    concurrency: Option<usize>,
    routes: Option<PathBuf>,
    timeout: Option<Duration>,
    no_migrate: bool,
}

impl Flags {
    /// Takes one flag; `value` gives its value (inline or the next argument) when it has one.
    fn set(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<(), String> {
        match flag {
            "--bin-dir" => self.bin_dir = Some(PathBuf::from(value()?)),
            "--listen" => self.listen = Some(address(flag, &value()?)?),
            "--port" => self.port = Some(number::<u16>(flag, &value()?)?),
            "--internal" => self.internal = Some(address(flag, &value()?)?),
            "--internal-addr-file" => self.internal_addr_file = Some(PathBuf::from(value()?)),
            "--instances" => self.instances = Some(at_least_one(flag, &value()?)?),
            "--concurrency" => self.concurrency = Some(at_least_one(flag, &value()?)?),
            "--routes" => self.routes = Some(PathBuf::from(value()?)),
            "--timeout" => self.timeout = Some(seconds(flag, &value()?)?),
            "--no-migrate" => self.no_migrate = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
        Ok(())
    }

    /// The options, with the defaults for what was not given.
    fn into_options(self, port_env: Option<&str>) -> Result<Options, String> {
        let bin_dir = self.bin_dir.ok_or("--bin-dir is required")?;
        let listen = listen_address(self.listen, self.port, port_env)?;
        // One process per function serving many invocations at once: waits on the
        // database overlap within it, and a second process would only add its memory.
        let instances = self.instances.unwrap_or(1);
        Ok(Options {
            bin_dir,
            listen,
            internal: self
                .internal
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            internal_addr_file: self.internal_addr_file,
            instances,
            concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            routes: self.routes,
            timeout: self.timeout.unwrap_or(Duration::from_secs(29)),
            migrate: !self.no_migrate,
        })
    }
}

/// `--listen`, else loopback on `--port`, else on `$PORT`, else 127.0.0.1:9000.
fn listen_address(
    listen: Option<SocketAddr>,
    port: Option<u16>,
    port_env: Option<&str>,
) -> Result<SocketAddr, String> {
    Ok(
        match (
            listen,
            port,
            port_env.map(str::trim).filter(|p| !p.is_empty()),
        ) {
            (Some(addr), _, _) => addr,
            (None, Some(p), _) => SocketAddr::from(([127, 0, 0, 1], p)),
            (None, None, Some(p)) => SocketAddr::from(([127, 0, 0, 1], number::<u16>("PORT", p)?)),
            (None, None, None) => SocketAddr::from(([127, 0, 0, 1], 9000)),
        },
    )
}

fn at_least_one(flag: &str, value: &str) -> Result<usize, String> {
    match number::<usize>(flag, value)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{flag} must be a positive number of seconds (got {value:?})"
        )),
    }
}

fn address(flag: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} must be an address like 127.0.0.1:9000 (got {value:?})"))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{flag} must be a whole number (got {value:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], port: Option<&str>) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()), port)? {
            Command::Run(options) => Ok(options),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["--bin-dir", "target/debug"], None).unwrap();
        assert_eq!(o.bin_dir, PathBuf::from("target/debug"));
        assert_eq!(o.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(o.internal, "127.0.0.1:0".parse().unwrap());
        assert_eq!((o.instances, o.concurrency), (1, DEFAULT_CONCURRENCY));
        assert_eq!(o.timeout, Duration::from_secs(29));
        assert!(o.migrate);
        assert_eq!(o.routes, None);
    }

    #[test]
    fn port_flag_then_env() {
        let o = run(&["--bin-dir=x", "--port", "9100"], Some("9200")).unwrap();
        assert_eq!(o.listen, "127.0.0.1:9100".parse().unwrap());
        let o = run(&["--bin-dir=x"], Some("9200")).unwrap();
        assert_eq!(o.listen, "127.0.0.1:9200".parse().unwrap());
        let o = run(
            &["--bin-dir=x", "--listen", "0.0.0.0:80", "--port", "1"],
            Some("2"),
        )
        .unwrap();
        assert_eq!(o.listen, "0.0.0.0:80".parse().unwrap());
        assert!(run(&["--bin-dir=x"], Some("abc")).is_err());
    }

    #[test]
    fn every_flag() {
        let o = run(
            &[
                "--bin-dir",
                "/app/bin",
                "--internal",
                "127.0.0.1:9001",
                "--internal-addr-file",
                "/tmp/a",
                "--instances",
                "3",
                "--routes",
                "r.toml",
                "--timeout",
                "2.5",
                "--no-migrate",
            ],
            None,
        )
        .unwrap();
        assert_eq!(o.internal, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(o.internal_addr_file, Some(PathBuf::from("/tmp/a")));
        assert_eq!(o.instances, 3);
        assert_eq!(o.routes, Some(PathBuf::from("r.toml")));
        assert_eq!(o.timeout, Duration::from_millis(2500));
        assert!(!o.migrate);
    }

    #[test]
    fn refusals() {
        assert!(run(&[], None).unwrap_err().contains("--bin-dir"));
        assert!(
            run(&["--bin-dir"], None)
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(run(&["--bin-dir=x", "--instances", "0"], None).is_err());
        assert!(run(&["--bin-dir=x", "--concurrency", "0"], None).is_err());
        let o = run(&["--bin-dir=x", "--concurrency=16"], None).unwrap();
        assert_eq!(o.concurrency, 16);
        assert!(run(&["--bin-dir=x", "--timeout", "-1"], None).is_err());
        assert!(
            run(&["--bin-dir=x", "--what"], None)
                .unwrap_err()
                .contains("--what")
        );
        assert!(run(&["--help"], None).unwrap_err() == "help");
    }
}
