//! The schedules of template.yaml, as Event invocations: `email` every minute (the
//! backstop behind the Invoke after each commit; `EMAIL_SCHEDULE_SECONDS` overrides) and
//! `cleanup` every `CLEANUP_INTERVAL` seconds in production only (`FLASK_ENV`). Values come
//! from the environment, then `.env` in the working directory (the functions read it too).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::ids;
use crate::lambda::{Function, Invocation, Service};

/// A setting: the environment wins, a blank value counts as unset, then `.env`.
pub fn setting(key: &str, dotenv: &str) -> Option<String> {
    if let Some(value) = std::env::var(key).ok().filter(|v| !v.trim().is_empty()) {
        return Some(value.trim().to_string());
    }
    dotenv_value(dotenv, key)
}

fn dotenv_value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() != key {
            continue;
        }
        let v = v.trim();
        let quoted = v.len() >= 2
            && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\''));
        let v = match quoted {
            true => &v[1..v.len() - 1],
            false => v.split(" #").next().unwrap_or("").trim(),
        };
        found = (!v.is_empty()).then(|| v.to_string());
    }
    found
}

#[derive(Debug, PartialEq)]
pub struct Schedules {
    pub email_every: Duration,
    pub cleanup_every: Option<Duration>,
}

impl Schedules {
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let seconds = |key: &str, default: f64| -> Result<Duration, String> {
            match get(key) {
                None => Ok(Duration::from_secs_f64(default)),
                Some(v) => match v.parse::<f64>() {
                    Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
                    _ => Err(format!(
                        "{key} must be a positive number of seconds (got {v:?})"
                    )),
                },
            }
        };
        let email_every = seconds("EMAIL_SCHEDULE_SECONDS", 60.0)?;
        let production = get("FLASK_ENV").is_some_and(|v| v == "production");
        let cleanup_every = match production {
            true => Some(seconds("CLEANUP_INTERVAL", 3600.0)?),
            false => None,
        };
        Ok(Schedules {
            email_every,
            cleanup_every,
        })
    }
}

pub fn start(service: &Service, schedules: &Schedules, stop: CancellationToken) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let mut add = |name: &str, every: Duration| {
        if let Some(function) = service.function(name) {
            tracing::info!(function = name, every_s = every.as_secs_f64(), "schedule");
            set.spawn(every_period(function.clone(), every, stop.clone()));
        }
    };
    add("email", schedules.email_every);
    if let Some(every) = schedules.cleanup_every {
        add("cleanup", every);
    }
    set
}

async fn every_period(function: Arc<Function>, period: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let id = ids::request_id();
                let queued = function.invoke(Invocation::event(Bytes::from_static(b"{}"), id.clone()));
                tracing::debug!(function = %function.name, request_id = %id, queued, "scheduled invocation");
            }
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn schedules(pairs: &[(&str, &str)]) -> Result<Schedules, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Schedules::from_settings(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_production() {
        let s = schedules(&[]).unwrap();
        assert_eq!(s.email_every, Duration::from_secs(60));
        assert_eq!(s.cleanup_every, None);
        let s = schedules(&[("FLASK_ENV", "production"), ("EMAIL_SCHEDULE_SECONDS", "1")]).unwrap();
        assert_eq!(s.email_every, Duration::from_secs(1));
        assert_eq!(s.cleanup_every, Some(Duration::from_secs(3600)));
        let s = schedules(&[("FLASK_ENV", "production"), ("CLEANUP_INTERVAL", "600")]).unwrap();
        assert_eq!(s.cleanup_every, Some(Duration::from_secs(600)));
        assert!(schedules(&[("EMAIL_SCHEDULE_SECONDS", "0")]).is_err());
        assert!(schedules(&[("FLASK_ENV", "production"), ("CLEANUP_INTERVAL", "x")]).is_err());
    }

    #[test]
    fn dotenv_values() {
        let text = "# c\nexport FLASK_ENV=production\nA='x y'\nB=\"q\"\nC=v # note\nD=\nA=last\n";
        assert_eq!(
            dotenv_value(text, "FLASK_ENV").as_deref(),
            Some("production")
        );
        assert_eq!(dotenv_value(text, "A").as_deref(), Some("last"));
        assert_eq!(dotenv_value(text, "B").as_deref(), Some("q"));
        assert_eq!(dotenv_value(text, "C").as_deref(), Some("v"));
        assert_eq!(dotenv_value(text, "D"), None);
        assert_eq!(dotenv_value(text, "E"), None);
    }
}
