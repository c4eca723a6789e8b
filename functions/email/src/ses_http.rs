//! The HTTP client the SES SDK sends through: HTTP/1.1 over the workspace's hyper and
//! rustls (*ring*, webpki roots), set up as for the e-mail trigger
//! ([`shared::notify::https_connector`]).
//!
//! Why not the SDK's own client (`aws-smithy-http-client`): it always links HTTP/2 (the
//! `h2` crate, ALPN-negotiated), native-root loading and proxy support, 1.06 MiB of
//! `email`'s binary (8.27 -> 7.21 MiB), for one HTTPS request per message to an endpoint
//! that speaks HTTP/1.1. What the SDK asks of a client is kept: a connection pool, its
//! connect and read timeouts, and errors classified so that it retries what is worth
//! retrying.

use std::error::Error as StdError;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use shared::notify::{HttpsOverTcp, https_connector};

/// Connect and read timeouts, as the SDK's settings give them.
type Timeouts = (Option<Duration>, Option<Duration>);

pub fn ses_http_client() -> SharedHttpClient {
    SharedHttpClient::new(SesHttpClient::default())
}

/// One connector, and so one connection pool, per set of timeouts the SDK asks for (it
/// asks for one per request attempt, nearly always with the same settings).
#[derive(Debug, Default)]
struct SesHttpClient {
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for SesHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector_for((settings.connect_timeout(), settings.read_timeout()))
    }
}

impl SesHttpClient {
    fn connector_for(&self, timeouts: Timeouts) -> SharedHttpConnector {
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Http1Connector::new(timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

#[derive(Debug)]
struct Http1Connector {
    /// `None` if rustls could not be set up: every request then fails as a connect error.
    client: Option<Client<HttpsOverTcp, SdkBody>>,
    read_timeout: Option<Duration>,
}

impl Http1Connector {
    fn new((connect_timeout, read_timeout): Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let client = https_connector(tcp)
            .map_err(|e| tracing::error!(error = %e, "no TLS for SES"))
            .ok()
            .map(|https| Client::builder(TokioExecutor::new()).build(https));
        Self {
            client,
            read_timeout,
        }
    }
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let Some(client) = &self.client else {
            return HttpConnectorFuture::ready(Err(ConnectorError::io("no TLS for SES".into())));
        };
        let response = client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => response.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the SDK's retry strategy needs to know, as its own client tells it: no connection,
/// a dropped or cut-short one is transient (retried); a timeout is a timeout; a request
/// hyper refused to send is the caller's; anything else is not retried.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let hyper_error = source::<hyper::Error>(&error);
    if error.is_connect()
        || hyper_error.is_some_and(|e| e.is_closed() || e.is_canceled())
        || source::<std::io::Error>(&error).is_some()
    {
        return ConnectorError::io(error.into());
    }
    match hyper_error {
        Some(e) if e.is_timeout() => ConnectorError::timeout(error.into()),
        Some(e) if e.is_user() => ConnectorError::user(error.into()),
        Some(e) if e.is_incomplete_message() => {
            ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
        }
        _ => ConnectorError::other(error.into(), None),
    }
}

/// The first error of type `E` in `error`'s chain of sources, `error` included.
fn source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&e| e.source()).find_map(|e| e.downcast_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::TcpListener;

    use http_body_util::BodyExt;

    fn connector(timeouts: Timeouts) -> SharedHttpConnector {
        SesHttpClient::default().connector_for(timeouts)
    }

    fn request(url: &str) -> HttpRequest {
        let request = hyper::Request::builder()
            .method("POST")
            .uri(url)
            .body(SdkBody::from("{}"))
            .unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    /// A server that reads one request and answers `reply`, or never answers.
    fn one_shot_server(reply: Option<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v2/email/outbound-emails",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            match reply {
                Some(reply) => stream.write_all(reply).unwrap(),
                None => std::thread::sleep(Duration::from_secs(5)),
            }
        });
        url
    }

    #[tokio::test]
    async fn answers_come_back_with_status_headers_and_body() {
        let url = one_shot_server(Some(
            b"HTTP/1.1 400 Bad Request\r\nx-amzn-errortype: MessageRejected\r\ncontent-length: 2\r\n\r\n{}",
        ));
        let response = connector((None, None)).call(request(&url)).await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(
            response.headers().get("x-amzn-errortype"),
            Some("MessageRejected")
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }

    #[tokio::test]
    async fn failures_are_classified_for_the_sdks_retries() {
        // nothing listens: a connect error, which the SDK retries
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let error = connector((None, None))
            .call(request(&url))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");

        // a server that never answers: a timeout, not a hang
        let url = one_shot_server(None);
        let read_timeout = Some(Duration::from_millis(200));
        let error = connector((None, read_timeout))
            .call(request(&url))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");

        // the connection closed without an answer: retried too
        let url = one_shot_server(Some(b""));
        let error = connector((None, None))
            .call(request(&url))
            .await
            .unwrap_err();
        assert!(
            error.is_io() || error.as_other() == Some(ErrorKind::TransientError),
            "{error:?}"
        );
    }

    #[test]
    fn one_pool_per_set_of_timeouts() {
        let client = SesHttpClient::default();
        let short = (Some(Duration::from_secs(1)), None);
        client.connector_for((None, None));
        client.connector_for((None, None));
        client.connector_for(short);
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
    }
}
