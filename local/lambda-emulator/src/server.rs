//! The HTTP/1.1 accept loop both listeners share: keep-alive, no Nagle delay, and a
//! graceful stop (no new connections; requests in flight finish, within a bound).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub type Reply = Response<Full<Bytes>>;

pub struct Settings {
    /// Slow clients' time to send a request's headers, which is also how long a kept-alive
    /// connection may stay idle (hyper's timer runs while it waits for the next request);
    /// the connection is then closed without an answer. `None` for the internal listener,
    /// whose clients are the functions.
    pub header_read_timeout: Option<Duration>,
    /// How long requests in flight may take to finish once `stop` is cancelled.
    pub grace: Duration,
}

/// Serves `listener` until `stop` is cancelled, then lets requests in flight finish (at
/// most `settings.grace`) and returns.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    handler: F,
    settings: Settings,
    stop: CancellationToken,
) where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(settings.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler(req, peer).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is no error of ours.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = settings.grace.as_secs(),
            "requests still in flight after the grace period"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    /// Reads until the server closes the connection (EOF or reset); what it sent.
    async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        tokio::time::timeout(limit, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .ok()?;
        Some(got)
    }

    #[tokio::test]
    async fn slow_and_idle_clients_are_disconnected_after_the_header_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let settings = Settings {
            header_read_timeout: Some(Duration::from_millis(300)),
            grace: Duration::from_secs(1),
        };
        let handler = |_request, _peer| async { Response::new(Full::new(Bytes::from("ok"))) };
        let server = tokio::spawn(serve(listener, handler, settings, stop.clone()));

        // Slowloris: headers that never end.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let sent = until_closed(&mut slow, Duration::from_secs(5)).await;
        assert_eq!(sent.as_deref(), Some(&b""[..]), "closed without an answer");
        assert!(started.elapsed() < Duration::from_secs(2));

        // A kept-alive connection that goes quiet after its request is closed as well.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let sent = until_closed(&mut idle, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(sent.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(sent.ends_with(b"\r\n\r\nok"));
        assert!(started.elapsed() < Duration::from_secs(2));

        stop.cancel();
        server.await.unwrap();
    }
}
