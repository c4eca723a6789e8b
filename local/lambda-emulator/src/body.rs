//! Reading request bodies with a limit: never more than the limit is held in memory.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
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
    let mut joined: Option<BytesMut> = None;
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
                let mut buffer = BytesMut::with_capacity(capacity);
                buffer.extend_from_slice(&first.take().unwrap_or_default());
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(buffer) => buffer.freeze(),
        None => first.unwrap_or_default(),
    })
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
