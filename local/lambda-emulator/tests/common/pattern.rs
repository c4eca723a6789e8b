//! The probe's deterministic bodies: `n` bytes of letters and digits that depend on `seed`
//! (its hex spelling first, then a stretch of a fixed pseudo-random text starting at an
//! offset chosen by the seed), so that a body delivered to the wrong request, cut short or
//! shifted is caught. Slices of one buffer: cheap to make and compare even in debug builds.

#![allow(dead_code)]

use std::sync::OnceLock;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LONGEST: usize = 11 * 1024 * 1024;
const HEAD: usize = 16;

fn text() -> &'static [u8] {
    static TEXT: OnceLock<Vec<u8>> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut state: u32 = 0x9e37_79b9;
        (0..LONGEST + 64)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                ALPHABET[(state % 62) as usize]
            })
            .collect()
    })
}

fn parts(n: usize, seed: u64) -> ([u8; HEAD], &'static [u8]) {
    let mut head = [0u8; HEAD];
    head.copy_from_slice(format!("{seed:016x}").as_bytes());
    let offset = (seed % 61) as usize;
    let rest = n.saturating_sub(HEAD);
    (head, &text()[offset..offset + rest])
}

pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    assert!(n <= LONGEST, "pattern: at most {LONGEST} bytes");
    let (head, rest) = parts(n, seed);
    let mut body = Vec::with_capacity(n);
    body.extend_from_slice(&head[..n.min(HEAD)]);
    body.extend_from_slice(rest);
    body
}

/// Whether `body` is exactly `pattern(n, seed)`, without making it.
pub fn matches(body: &[u8], n: usize, seed: u64) -> bool {
    if body.len() != n {
        return false;
    }
    let (head, rest) = parts(n, seed);
    body[..n.min(HEAD)] == head[..n.min(HEAD)] && body[n.min(HEAD)..] == *rest
}
