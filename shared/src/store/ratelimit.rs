//! Rate limiting (contract section 8): flask-limiter's notation and fixed windows, counted
//! in Redis per client IP per endpoint path, all methods together, so that every function
//! instance shares the counts. On only with `FLASK_ENV=production`.
//!
//! While Redis cannot be reached, requests are served unlimited (fail open) and each
//! check costs at most [`CHECK_BUDGET`]: an outage of the limiter must not become an outage
//! of the API. `/health` reports Redis as down meanwhile.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::time::Instant;

use ipnet::IpNet;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The most a request waits for the limiter before it is served unlimited.
pub const CHECK_BUDGET: Duration = Duration::from_millis(250);
/// How long requests go unchecked after Redis failed, before one tries it again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Granularity {
    fn seconds(self) -> u64 {
        // flask-limiter's (the `limits` package's) lengths: a month is 30 days.
        match self {
            Granularity::Second => 1,
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
            Granularity::Day => 86_400,
            Granularity::Month => 30 * 86_400,
            Granularity::Year => 12 * 30 * 86_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Month => "month",
            Granularity::Year => "year",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        let singular = word.strip_suffix('s').unwrap_or(word);
        [
            Granularity::Second,
            Granularity::Minute,
            Granularity::Hour,
            Granularity::Day,
            Granularity::Month,
            Granularity::Year,
        ]
        .into_iter()
        .find(|g| g.name() == singular)
    }
}

/// One limit: `amount` requests per `multiples` × `granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub amount: u64,
    pub multiples: u64,
    pub granularity: Granularity,
}

impl Limit {
    pub fn window_seconds(&self) -> u64 {
        self.multiples * self.granularity.seconds()
    }
}

/// flask-limiter's text for a limit, which the 429 body carries: `20 per 1 second`.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} per {} {}",
            self.amount,
            self.multiples,
            self.granularity.name()
        )
    }
}

/// Parses flask-limiter notation: `20/second`, `5 per minute`, `10/2 hours`, and several
/// limits separated by `;`, `,` or `|` (`1000/hour;10000/day`).
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, String> {
    let limits = text
        .split([';', ',', '|'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| parse_one(part).ok_or_else(|| format!("cannot read {part:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    if limits.is_empty() {
        return Err("names no limit".into());
    }
    Ok(limits)
}

fn parse_one(part: &str) -> Option<Limit> {
    let lower = part.to_ascii_lowercase();
    let (amount, period) = match lower.split_once('/') {
        Some(split) => split,
        None => lower.split_once(" per ")?,
    };
    let amount: u64 = amount.trim().parse().ok().filter(|&n| n > 0)?;
    let mut words = period.split_whitespace();
    let first = words.next()?;
    let (multiples, unit) = match first.parse::<u64>() {
        Ok(n) => (n, words.next()?),
        Err(_) => (1, first),
    };
    if multiples == 0 || words.next().is_some() {
        return None;
    }
    Some(Limit {
        amount,
        multiples,
        granularity: Granularity::parse(unit)?,
    })
}

/// Parses `TRUSTED_PROXIES`: addresses and networks, comma- or space-separated.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not an IP address or network"))
        })
        .collect()
}

/// The client's address. `peer` is who connected to the emulator or API Gateway (its
/// `sourceIp`). When that is a trusted proxy (nginx), the client is the last entry of
/// `X-Forwarded-For`: the address the proxy itself saw connect and appended. Entries
/// further left were written by the client and are ignored, so a forged header changes
/// nothing. One hop only, even when that address is itself a proxy's: a client on the
/// proxy's own network must not be able to pick its identity either.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let appended_by_proxy = forwarded_for
        .and_then(|header| header.rsplit(',').next())
        .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
    Some(appended_by_proxy.unwrap_or(peer))
}

/// The Redis connection every function shares for limits (and `/health` pings). Lazy: no
/// I/O at cold start; it connects on first use and reconnects after failures.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    /// After a failed check, requests skip the limiter until then (a `tokio` instant in
    /// milliseconds since `epoch`), so that an unreachable Redis costs one request at most
    /// [`CHECK_BUDGET`] per [`RETRY_AFTER`], not every request.
    skip_until_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redis")
    }
}

/// Counts a hit in every window of a request's key in one round trip. A window starts
/// with its first hit and lasts its length (flask-limiter's fixed window); hits past
/// the limit still count, as there.
const HIT_SCRIPT: &str = r"
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = count
end
return counts
";

/// [`HIT_SCRIPT`] with its SHA-1, computed once per process: requests send the hash
/// (`EVALSHA`), and the script itself only when Redis does not know it yet.
static HIT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(HIT_SCRIPT));

impl Redis {
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CHECK_BUDGET))
            .set_response_timeout(Some(CHECK_BUDGET))
            .set_number_of_retries(1);
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            skip_until_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
    }

    /// Counts one request of `client` on `path` and returns the first limit it is over.
    async fn hit<'a>(
        &self,
        limits: &'a [Limit],
        client: &str,
        path: &str,
    ) -> Result<Option<&'a Limit>, redis::RedisError> {
        let mut invocation = HIT.prepare_invoke();
        for limit in limits {
            invocation
                .key(format!(
                    "LIMITER/{client}/{path}/{}/{}/{}",
                    limit.amount,
                    limit.multiples,
                    limit.granularity.name()
                ))
                .arg(limit.window_seconds());
        }
        let mut connection = self.connection.clone();
        let counts: Vec<u64> = invocation.invoke_async(&mut connection).await?;
        Ok(limits
            .iter()
            .zip(counts)
            .find(|(limit, count)| *count > limit.amount)
            .map(|(limit, _)| limit))
    }

    /// The limit `client` has gone over on `path`, if any. Fails open: when Redis does
    /// not answer within [`CHECK_BUDGET`], the request is served, a warning logged, and
    /// the requests of the next [`RETRY_AFTER`] are served without asking Redis.
    pub async fn exceeded<'a>(
        &self,
        limits: &'a [Limit],
        client: &str,
        path: &str,
    ) -> Option<&'a Limit> {
        if self.elapsed_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let failure = match tokio::time::timeout(CHECK_BUDGET, self.hit(limits, client, path)).await
        {
            Ok(Ok(over)) => return over,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer in time".to_string(),
        };
        let retry_at = self.elapsed_ms() + RETRY_AFTER.as_millis() as u64;
        self.skip_until_ms.store(retry_at, Ordering::Relaxed);
        tracing::warn!(
            error = %failure,
            "rate limits not enforced for {}s: Redis failed",
            RETRY_AFTER.as_secs()
        );
        None
    }

    fn elapsed_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(amount: u64, multiples: u64, granularity: Granularity) -> Limit {
        Limit {
            amount,
            multiples,
            granularity,
        }
    }

    #[test]
    fn reads_flask_limiter_notation() {
        assert_eq!(
            parse_limits("20/second").unwrap(),
            vec![limit(20, 1, Granularity::Second)]
        );
        assert_eq!(
            parse_limits("1000/hour;10000/day").unwrap(),
            vec![
                limit(1000, 1, Granularity::Hour),
                limit(10000, 1, Granularity::Day)
            ]
        );
        assert_eq!(
            parse_limits("5 per minute").unwrap(),
            vec![limit(5, 1, Granularity::Minute)]
        );
        assert_eq!(
            parse_limits(" 10 / 2 hours , 3 per 5 Seconds | 1/year").unwrap(),
            vec![
                limit(10, 2, Granularity::Hour),
                limit(3, 5, Granularity::Second),
                limit(1, 1, Granularity::Year)
            ]
        );
        for bad in [
            "",
            ";",
            "20",
            "20/fortnight",
            "x/second",
            "0/second",
            "5/0 minutes",
        ] {
            assert!(parse_limits(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn says_limits_the_way_flask_limiter_does() {
        let limits = parse_limits("20/second;1000/hour;10/2 minutes").unwrap();
        let texts: Vec<String> = limits.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            ["20 per 1 second", "1000 per 1 hour", "10 per 2 minute"]
        );
        assert_eq!(limits[2].window_seconds(), 120);
        assert_eq!(
            parse_limits("1/month").unwrap()[0].window_seconds(),
            2_592_000
        );
    }

    #[test]
    fn client_ip_ignores_forged_forwarded_for() {
        let trusted = parse_networks("127.0.0.1, 10.0.0.0/8").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // Straight from the internet (API Gateway's sourceIp): the header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through nginx: nginx appends the address it saw to whatever the client sent.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("1.2.3.4, 198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // A client on the proxy's own network is still named by the proxy, not by itself.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("198.51.100.7, 127.0.0.1"), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("6.6.6.6, 10.1.2.3"), &trusted),
            ip("10.1.2.3")
        );
        // A trusted peer that passes nothing on is itself the client.
        assert_eq!(client_ip(ip("127.0.0.1"), None, &trusted), ip("127.0.0.1"));
        // Nothing trusted: the peer, whatever the header says.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("1.2.3.4"), &[]),
            ip("127.0.0.1")
        );
        assert!(parse_networks("127.0.0.1, nonsense").is_err());
        assert_eq!(parse_networks("").unwrap(), vec![]);
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_left_alone_for_a_while() {
        let redis = Redis::new("redis://127.0.0.1:1/").unwrap(); // nothing listens there
        let limits = parse_limits("1/second").unwrap();
        assert_eq!(redis.exceeded(&limits, "192.0.2.1", "/p").await, None);
        assert!(redis.skip_until_ms.load(Ordering::Relaxed) >= RETRY_AFTER.as_millis() as u64);
        let started = Instant::now();
        for _ in 0..100 {
            assert_eq!(redis.exceeded(&limits, "192.0.2.1", "/p").await, None);
        }
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
