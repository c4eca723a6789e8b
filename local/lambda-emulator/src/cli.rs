//! Command line: `lambda-emulator --bin-dir DIR [options]` (see `USAGE`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
  --instances N              instances per HTTP function (default: CPUs, at least 2)
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
    let mut bin_dir = None;
    let mut listen = None;
    let mut port = None;
    let mut internal = None;
    let mut internal_addr_file = None;
    let mut instances = None;
    let mut routes = None;
    let mut timeout = None;
    let mut migrate = true;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) => Ok(v),
                None => Err(format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--bin-dir" => bin_dir = Some(PathBuf::from(value("--bin-dir")?)),
            "--listen" => listen = Some(address("--listen", &value("--listen")?)?),
            "--port" => port = Some(number::<u16>("--port", &value("--port")?)?),
            "--internal" => internal = Some(address("--internal", &value("--internal")?)?),
            "--internal-addr-file" => {
                internal_addr_file = Some(PathBuf::from(value("--internal-addr-file")?))
            }
            "--instances" => {
                let n = number::<usize>("--instances", &value("--instances")?)?;
                if n == 0 {
                    return Err("--instances must be at least 1".into());
                }
                instances = Some(n);
            }
            "--routes" => routes = Some(PathBuf::from(value("--routes")?)),
            "--timeout" => {
                let secs = value("--timeout")?;
                match secs.parse::<f64>() {
                    Ok(s) if s > 0.0 && s.is_finite() => timeout = Some(Duration::from_secs_f64(s)),
                    _ => {
                        return Err(format!(
                            "--timeout must be a positive number of seconds (got {secs:?})"
                        ));
                    }
                }
            }
            "--no-migrate" => migrate = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }

    let bin_dir = bin_dir.ok_or("--bin-dir is required")?;
    let listen = match (
        listen,
        port,
        port_env.map(str::trim).filter(|p| !p.is_empty()),
    ) {
        (Some(addr), _, _) => addr,
        (None, Some(p), _) => SocketAddr::from(([127, 0, 0, 1], p)),
        (None, None, Some(p)) => SocketAddr::from(([127, 0, 0, 1], number::<u16>("PORT", p)?)),
        (None, None, None) => SocketAddr::from(([127, 0, 0, 1], 9000)),
    };
    let instances = instances.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    });
    Ok(Command::Run(Options {
        bin_dir,
        listen,
        internal: internal.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        internal_addr_file,
        instances,
        routes,
        timeout: timeout.unwrap_or(Duration::from_secs(29)),
        migrate,
    }))
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
        assert!(o.instances >= 2);
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
        assert!(run(&["--bin-dir=x", "--timeout", "-1"], None).is_err());
        assert!(
            run(&["--bin-dir=x", "--what"], None)
                .unwrap_err()
                .contains("--what")
        );
        assert!(run(&["--help"], None).unwrap_err() == "help");
    }
}
