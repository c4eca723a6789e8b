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
    /// Slow clients' time to send a request's headers; `None` for the internal listener,
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
