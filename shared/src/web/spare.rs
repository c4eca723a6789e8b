//! Buffers of large answers, kept for the next large answer.
//!
//! glibc maps every block of 256 KiB or more on its own and unmaps it when it is freed
//! (`runtime::return_large_buffers_when_freed`), so each fresh one is faulted in page by
//! page: for a 10,000-form list, page faults were about a fifth of the function's CPU. An
//! instance keeps two such buffers (a list's JSON and its base64), each of at most 8 MiB:
//! however many large answers ran at once, no more than 16 MiB stay with it.

use std::sync::{Mutex, PoisonError};

/// Smaller buffers come from glibc's heap, which reuses them anyway.
pub const SPARE_FROM_BYTES: usize = 256 * 1024;
const LARGEST_KEPT_BYTES: usize = 8 * 1024 * 1024;
const KEEP: usize = 2;

static KEPT: Kept = Kept(Mutex::new(Vec::new()));

/// An empty buffer with room for `at_least` bytes: a kept one when there is one and
/// `at_least` is large, a new one otherwise.
pub fn take(at_least: usize) -> Vec<u8> {
    KEPT.take(at_least)
}

/// [`take`], as a `String` (empty, so it is UTF-8).
pub fn take_string(at_least: usize) -> String {
    String::from_utf8(take(at_least)).unwrap_or_default()
}

/// Keeps a large `buffer` for a later [`take`] while there is room; frees it otherwise.
pub fn keep(buffer: Vec<u8>) {
    KEPT.keep(buffer)
}

struct Kept(Mutex<Vec<Vec<u8>>>);

impl Kept {
    fn take(&self, at_least: usize) -> Vec<u8> {
        if at_least < SPARE_FROM_BYTES {
            return Vec::with_capacity(at_least);
        }
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut buffer = kept.unwrap_or_default();
        buffer.clear();
        buffer.reserve(at_least);
        buffer
    }

    fn keep(&self, buffer: Vec<u8>) {
        if !(SPARE_FROM_BYTES..=LARGEST_KEPT_BYTES).contains(&buffer.capacity()) {
            return;
        }
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEEP {
            kept.push(buffer);
        }
        // Otherwise `buffer` is freed here, after the lock is released.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_large_buffers_of_at_most_8_mib_are_kept_and_taken_empty() {
        let spares = Kept(Mutex::new(Vec::new()));
        let capacities = || -> Vec<usize> {
            let kept = spares.0.lock().unwrap();
            kept.iter().map(Vec::capacity).collect()
        };
        spares.keep(Vec::with_capacity(SPARE_FROM_BYTES - 1));
        spares.keep(Vec::with_capacity(LARGEST_KEPT_BYTES + 1));
        assert!(capacities().is_empty(), "small and huge ones are freed");

        let mut used = Vec::with_capacity(SPARE_FROM_BYTES);
        used.extend_from_slice(b"old bytes");
        spares.keep(used);
        spares.keep(Vec::with_capacity(LARGEST_KEPT_BYTES));
        spares.keep(Vec::with_capacity(SPARE_FROM_BYTES));
        assert_eq!(
            capacities(),
            [SPARE_FROM_BYTES, LARGEST_KEPT_BYTES],
            "a third one is freed"
        );

        let small = spares.take(SPARE_FROM_BYTES - 1);
        assert!(small.capacity() < SPARE_FROM_BYTES, "small ones are new");
        assert_eq!(capacities().len(), 2);
        let kept = spares.take(3 * SPARE_FROM_BYTES);
        assert!(kept.is_empty() && kept.capacity() >= LARGEST_KEPT_BYTES);
        let grown = spares.take(3 * SPARE_FROM_BYTES);
        assert!(grown.is_empty() && grown.capacity() >= 3 * SPARE_FROM_BYTES);
        assert!(capacities().is_empty());
        let fresh = spares.take(SPARE_FROM_BYTES);
        assert!(fresh.is_empty() && fresh.capacity() >= SPARE_FROM_BYTES);
    }
}
