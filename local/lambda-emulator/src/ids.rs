//! Identifiers and clocks as AWS spells them: request ids (UUID v4 text), X-Ray trace ids,
//! API Gateway's `requestContext.time` (`30/Nov/2026:14:13:09 +0000`).

use std::time::{SystemTime, UNIX_EPOCH};

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The kernel's generator does not fail on Linux once booted; zeros would still be ids.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// A random UUID (version 4), the shape of Lambda's and API Gateway's request ids.
pub fn request_id() -> String {
    let mut b: [u8; 16] = random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An unguessable token: the per-instance part of the Runtime API's address.
pub fn token() -> String {
    hex(&random::<12>())
}

/// `Lambda-Runtime-Trace-Id`: an X-Ray header with a fresh root, not sampled.
pub fn trace_id(now: SystemTime) -> String {
    let secs = epoch_ms(now) / 1000;
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        hex(&random::<12>()),
        hex(&random::<8>())
    )
}

pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `requestContext.time`: the common log format, always UTC.
pub fn clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms(t) / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's method).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn common_log_format_time() {
        let at = |secs: u64| clf_time(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "01/Jan/1970:00:00:00 +0000");
        // The fixture of aws-lambda-rust-runtime: 1583348638 is 2020-03-04T19:03:58Z.
        assert_eq!(at(1_583_348_638), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(at(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(at(1_796_047_989), "30/Nov/2026:14:13:09 +0000");
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(request_id(), id);
        assert_eq!(token().len(), 24);
    }

    #[test]
    fn trace_ids_look_like_x_ray() {
        let t = trace_id(UNIX_EPOCH + Duration::from_secs(0x5e5f_8a9e));
        assert!(t.starts_with("Root=1-5e5f8a9e-"), "{t}");
        assert!(t.ends_with(";Sampled=0"));
    }
}
