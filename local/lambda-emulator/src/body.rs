//! Reading request bodies with a limit: never more than the limit is held in memory.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderMap};

pub enum BodyError {
    /// Longer than allowed; what is left of the body, to be drained.
    TooLarge(Incoming),
    /// The client went away, or sent a broken body.
    Broken(hyper::Error),
}

/// The length a request's `Content-Length` declares, if it is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A request's whole body, if it is at most `max` bytes (`read`, sized by its
/// Content-Length).
pub async fn read_request(request: Request<Incoming>, max: usize) -> Result<Bytes, BodyError> {
    let size_hint = declared_length(request.headers());
    read(request.into_body(), max, size_hint).await
}

/// The whole body, if it is at most `max` bytes. `size_hint` (the Content-Length) sizes
/// the buffer; a body in one chunk is not copied at all.
pub async fn read(
    mut body: Incoming,
    max: usize,
    size_hint: Option<u64>,
) -> Result<Bytes, BodyError> {
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        len += data.len();
        if len > max {
            return Err(BodyError::TooLarge(body));
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(_), None) => {
                let capacity = size_hint
                    .map_or(0, |n| usize::try_from(n).unwrap_or(max).min(max))
                    .max(len);
                let mut buffer = SPARE.take(capacity);
                buffer.extend_from_slice(&first.take().unwrap_or_default());
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(buffer) => Bytes::from(buffer),
        None => first.unwrap_or_default(),
    })
}

/// The buffer of the last large body whose answer was sent, for the next large body: a
/// fresh one of megabytes is faulted in page by page (glibc maps each on its own and unmaps
/// it when freed, `return_large_buffers_when_freed`). One is kept, of at most 8 MiB.
static SPARE: Spare = Spare(Mutex::new(None));
const SPARE_FROM_BYTES: usize = 256 * 1024;
const LARGEST_SPARE_BYTES: usize = 8 * 1024 * 1024;

struct Spare(Mutex<Option<Vec<u8>>>);

impl Spare {
    /// An empty buffer for `capacity` bytes: the spare, when it is large.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = match capacity >= SPARE_FROM_BYTES {
            true => self.0.lock().unwrap_or_else(PoisonError::into_inner).take(),
            false => None,
        };
        let mut buffer = spare.unwrap_or_default();
        buffer.clear();
        buffer.reserve(capacity);
        buffer
    }

    fn keep(&self, buffer: Vec<u8>) {
        if (SPARE_FROM_BYTES..=LARGEST_SPARE_BYTES).contains(&buffer.capacity()) {
            let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if spare.is_none() {
                *spare = Some(buffer);
            }
        }
    }
}

/// `buffer` as `Bytes`; once the last of them is dropped (its answer sent), the buffer
/// becomes the spare.
pub fn returning_when_sent(buffer: Vec<u8>) -> Bytes {
    Bytes::from_owner(ReturnedWhenDropped(buffer))
}

struct ReturnedWhenDropped(Vec<u8>);

impl AsRef<[u8]> for ReturnedWhenDropped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ReturnedWhenDropped {
    fn drop(&mut self) {
        SPARE.keep(std::mem::take(&mut self.0));
    }
}

/// Reads and discards what is left of a refused body (bounded in bytes and time), so that
/// the client, still sending, reads the refusal instead of a connection reset.
pub async fn drain(mut body: Incoming, max_bytes: usize, max_time: Duration) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > max_bytes {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(max_time, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_large_buffer_of_at_most_8_mib_is_kept_and_taken_empty() {
        let spare = Spare(Mutex::new(None));
        spare.keep(Vec::with_capacity(SPARE_FROM_BYTES - 1));
        spare.keep(Vec::with_capacity(LARGEST_SPARE_BYTES + 1));
        assert!(
            spare.0.lock().unwrap().is_none(),
            "small and huge ones are freed"
        );
        let mut used = Vec::with_capacity(LARGEST_SPARE_BYTES);
        used.extend_from_slice(b"old bytes");
        spare.keep(used);
        spare.keep(Vec::with_capacity(SPARE_FROM_BYTES));
        let small = spare.take(SPARE_FROM_BYTES - 1);
        assert!(
            small.capacity() < LARGEST_SPARE_BYTES,
            "small bodies get a new one"
        );
        let kept = spare.take(SPARE_FROM_BYTES);
        assert!(kept.is_empty(), "taken empty");
        assert_eq!(kept.capacity(), LARGEST_SPARE_BYTES, "the first one kept");
        assert_eq!(
            spare.take(SPARE_FROM_BYTES).capacity(),
            SPARE_FROM_BYTES,
            "a new one"
        );
    }
}
