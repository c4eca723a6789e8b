//! The three ways out: SMTP (lettre's SMTP client on our own sockets, a few connections
//! kept open and reused across messages), Amazon SES (raw MIME through SESv2), and `.eml`
//! files for the embedded default.
//!
//! Why not lettre's pooled `AsyncSmtpTransport`: it cannot turn off Nagle's algorithm, and
//! lettre writes a message body and its final `<CRLF>.<CRLF>` in two writes. The second,
//! small write then waits for the server to acknowledge the first, and a server that is
//! still waiting for the end of the data only acknowledges when its delayed-ACK timer
//! fires: about 40 ms per message on Linux, which capped delivery at ~20 messages/s over
//! loopback (`make bench`). Here every socket is opened by us with `TCP_NODELAY`.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};
use shared::config::{Config, EmailTransport, SmtpSecurity};
use shared::domain::outbox::OutboxMessage;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::ses_http::ses_http_client;

/// Opening a connection (TCP, greeting, EHLO, TLS, AUTH), and one message on an open one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection idle for longer is checked with NOOP before it is reused (a server or a
/// frozen Lambda may have dropped it); one used a moment ago is reused as it is.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages on their way at once over SMTP, each on its own connection; as many stay open
/// between messages.
const SMTP_CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message can never be delivered (bad address, recipient refused for good).
    #[error("permanent: {0}")]
    Permanent(String),
    /// This message failed this time; others may go through.
    #[error("transient: {0}")]
    Transient(String),
    /// The transport itself is unreachable: every message would fail alike.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

pub enum Transport {
    Smtp(Smtp),
    Ses(aws_sdk_sesv2::Client),
    File(PathBuf),
}

impl Transport {
    pub async fn from_config(config: &Config) -> Result<Self, String> {
        match config.email.transport {
            EmailTransport::Smtp => {
                let smtp = config
                    .email
                    .smtp
                    .as_ref()
                    .ok_or("configuration error: SMTP_HOST is required for SMTP delivery")?;
                let tls = match smtp.security {
                    SmtpSecurity::None => None,
                    SmtpSecurity::StartTls | SmtpSecurity::Tls => Some(
                        TlsParameters::new(smtp.host.clone())
                            .map_err(|e| format!("configuration error: SMTP_HOST {e}"))?,
                    ),
                };
                Ok(Transport::Smtp(Smtp {
                    host: smtp.host.clone(),
                    port: smtp.port,
                    security: smtp.security,
                    tls,
                    credentials: smtp.user.as_ref().map(|user| {
                        Credentials::new(
                            user.clone(),
                            smtp.password
                                .as_ref()
                                .map(|p| p.expose().to_string())
                                .unwrap_or_default(),
                        )
                    }),
                    hello: ClientId::default(),
                    idle: Mutex::new(Vec::new()),
                }))
            }
            EmailTransport::Ses => {
                // The SDK sets no limit on a call by default: an endpoint that accepts and
                // never answers would hold the send until the Lambda timeout. One SES call,
                // retries included, gets the time an SMTP send gets; the SDK's other
                // defaults (connect 3.1 s) stay, as aws-config fills in what is unset.
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(SEND_TIMEOUT)
                    .build();
                let mut loader = aws_config::from_env()
                    .http_client(ses_http_client())
                    .timeout_config(timeouts);
                if let Some(endpoint) = &config.email.ses_endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                Ok(Transport::Ses(aws_sdk_sesv2::Client::new(
                    &loader.load().await,
                )))
            }
            EmailTransport::File => {
                let dir = config.database.data_dir.join("mail");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(Transport::File(dir))
            }
        }
    }

    /// How many messages may be on their way at once: SMTP sends on a few connections side
    /// by side (each message still waits for its own 250 before it counts as delivered);
    /// SES (its own rate limits) and files go one at a time.
    pub fn concurrency(&self) -> usize {
        match self {
            Transport::Smtp(_) => SMTP_CONCURRENCY,
            Transport::Ses(_) | Transport::File(_) => 1,
        }
    }

    pub async fn send(&self, config: &Config, message: &OutboxMessage) -> Result<(), SendError> {
        let email = build(config, message)?;
        match self {
            Transport::Smtp(smtp) => smtp.send(&email).await,
            Transport::Ses(client) => {
                let raw = RawMessage::builder()
                    .data(Blob::new(email.formatted()))
                    .build()
                    .map_err(|e| SendError::Permanent(e.to_string()))?;
                client
                    .send_email()
                    .content(EmailContent::builder().raw(raw).build())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(classify_ses)
            }
            Transport::File(dir) => {
                let path = dir.join(format!("{:06}.eml", message.id));
                std::fs::write(&path, email.formatted())
                    .map_err(|e| SendError::Unavailable(format!("{}: {e}", path.display())))?;
                tracing::info!(
                    to = %message.to_address,
                    subject = %message.subject,
                    link = first_link(&message.html_body).unwrap_or("(none)"),
                    file = %path.display(),
                    "e-mail written"
                );
                Ok(())
            }
        }
    }
}

/// SMTP over connections this module opens itself (`TCP_NODELAY`, see the module comment),
/// with lettre speaking the protocol. Open connections wait in `idle` for the next message.
pub struct Smtp {
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Smtp {
    /// One message, on an open connection or a new one. `Ok` only once the server has
    /// answered the end of the data with 2xx, i.e. taken responsibility for the message.
    async fn send(&self, email: &Message) -> Result<(), SendError> {
        let mut conn = self.checkout().await?;
        let raw = email.formatted();
        match tokio::time::timeout(SEND_TIMEOUT, conn.send(email.envelope(), &raw)).await {
            Ok(Ok(_)) => {
                self.checkin(conn);
                Ok(())
            }
            // lettre has already closed the connection (QUIT) on any error
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Ok(Err(e)) if e.is_transient() => Err(SendError::Transient(e.to_string())),
            Ok(Err(e)) => Err(SendError::Unavailable(e.to_string())),
            // dropped: the socket closes; the server may or may not have the message, so it
            // is retried later (at least once)
            Err(_) => Err(SendError::Unavailable(format!(
                "{}:{}: no answer within {}s",
                self.host,
                self.port,
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, SendError> {
        let parked = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some((mut conn, since)) = parked {
            if since.elapsed() < CHECK_AFTER_IDLE
                || tokio::time::timeout(CHECK_TIMEOUT, conn.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(conn);
            }
            // Gone stale, and the others parked with it most likely too: drop them all
            // (closes the sockets) rather than wait on each in turn.
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Unavailable(format!(
                "{}:{}: could not connect within {}s",
                self.host,
                self.port,
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < SMTP_CONCURRENCY {
            idle.push((conn, Instant::now()));
        }
    }

    /// TCP (no Nagle), the greeting and EHLO, TLS as configured, AUTH. Every failure here
    /// is the transport's, not a message's: `Unavailable`.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            SendError::Unavailable(format!("{}:{}: {e}", self.host, self.port))
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unavailable(&e))?;
        tcp.set_nodelay(true).map_err(|e| unavailable(&e))?;
        let mut conn = match (&self.security, &self.tls) {
            (SmtpSecurity::Tls, Some(tls)) => {
                let stream = implicit_tls(tcp, tls.clone())
                    .await
                    .map_err(|e| unavailable(&e))?;
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await,
        }
        .map_err(|e| unavailable(&e))?;
        if let (SmtpSecurity::StartTls, Some(tls)) = (&self.security, &self.tls) {
            conn.starttls(tls.clone(), &self.hello)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(conn)
    }
}

/// Implicit TLS (SMTPS) on our socket, with lettre's own TLS set-up: lettre's stream type
/// does the handshake, and `TlsOverTcp` hands it back to lettre as a ready-made stream.
#[allow(deprecated)] // AsyncNetworkStream: public, but "not meant to be made public"
async fn implicit_tls(
    tcp: TcpStream,
    tls: TlsParameters,
) -> Result<Box<dyn AsyncTokioStream>, lettre::transport::smtp::Error> {
    use lettre::transport::smtp::client::AsyncNetworkStream;
    let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
    stream.upgrade_tls(tls).await?;
    Ok(Box::new(TlsOverTcp(stream)))
}

#[allow(deprecated)]
#[derive(Debug)]
struct TlsOverTcp(lettre::transport::smtp::client::AsyncNetworkStream);

impl AsyncTokioStream for TlsOverTcp {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for TlsOverTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(futures_io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TlsOverTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

fn classify_ses<E: std::fmt::Debug>(error: aws_sdk_sesv2::error::SdkError<E>) -> SendError {
    use aws_sdk_sesv2::error::SdkError;
    let text = format!("{error:?}");
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            if status == 429 || status >= 500 {
                SendError::Transient(text)
            } else {
                // MessageRejected, unverified sender, bad request: retrying will not help
                SendError::Permanent(text)
            }
        }
        _ => SendError::Unavailable(text),
    }
}

/// The MIME message: multipart/alternative (plain text + HTML), `From: EMAIL_NAME
/// <EMAIL_FROM>`, `To: Full Name <address>` (lettre encodes non-ASCII names), a Date, and a
/// Message-ID that stays the same across retries so receivers can spot a duplicate.
fn build(config: &Config, message: &OutboxMessage) -> Result<Message, SendError> {
    // Stored values may predate the API's refusal of control characters (or be imported):
    // in a header they would inject lines, and lettre panics on some of them. Such a
    // message can never be sent as it is: a dead letter at once.
    for (what, value) in [
        ("recipient name", &message.to_name),
        ("recipient address", &message.to_address),
        ("subject", &message.subject),
    ] {
        if value.chars().any(char::is_control) {
            return Err(SendError::Permanent(format!(
                "the {what} {value:?} contains control characters"
            )));
        }
    }
    let from_address: Address =
        config.email.from.parse().map_err(|e| {
            SendError::Permanent(format!("EMAIL_FROM {:?}: {e}", config.email.from))
        })?;
    let to_address: Address = message
        .to_address
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", message.to_address)))?;
    let message_id = format!(
        "<briefthreat.{}.{}@{}>",
        message.id,
        message.created_at,
        from_address.domain()
    );
    Message::builder()
        .from(Mailbox::new(Some(config.email.name.clone()), from_address))
        .to(Mailbox::new(Some(message.to_name.clone()), to_address))
        .subject(message.subject.clone())
        .message_id(Some(message_id))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(
            message.text_body.clone(),
            message.html_body.clone(),
        ))
        .map_err(|e| SendError::Permanent(e.to_string()))
}

/// The first `http` link of an HTML body: the button, for the log of local runs.
fn first_link(html: &str) -> Option<&str> {
    let start = html.find("http")?;
    let rest = &html[start..];
    let end = rest.find(['"', '\'', '<', ' ']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(vars).unwrap()
    }

    #[tokio::test]
    async fn every_smtp_security_mode_builds_a_transport() {
        shared::web::runtime::init_process();
        for security in ["starttls", "tls", "none"] {
            let config = config(&[("SMTP_HOST", "127.0.0.1"), ("SMTP_SECURITY", security)]);
            assert!(matches!(
                Transport::from_config(&config).await,
                Ok(Transport::Smtp(_))
            ));
        }
    }

    #[test]
    fn messages_are_multipart_with_encoded_names_and_a_stable_message_id() {
        let config = config(&[("EMAIL_FROM", "noreply@example.org")]);
        let message = OutboxMessage {
            id: 7,
            to_address: "zoe@example.org".into(),
            to_name: "Zoë Ünïcode".into(),
            subject: "Form no. 7".into(),
            text_body: "€123.99".into(),
            html_body: "<p>€123.99</p>".into(),
            created_at: 1_700_000_000,
            attempts: 0,
        };
        let raw = String::from_utf8(build(&config, &message).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("From: BriefThreat <noreply@example.org>"),
            "{raw}"
        );
        assert!(raw.contains("To: =?utf-8?"), "{raw}");
        assert!(raw.contains("Message-ID: <briefthreat.7.1700000000@example.org>"));
        assert!(raw.contains("multipart/alternative"));
        let bad = OutboxMessage {
            to_address: "not an address".into(),
            ..message.clone()
        };
        assert!(matches!(build(&config, &bad), Err(SendError::Permanent(_))));
    }

    #[test]
    fn stored_control_characters_are_a_permanent_failure_not_a_panic() {
        let config = config(&[("EMAIL_FROM", "noreply@example.org")]);
        let good = OutboxMessage {
            id: 8,
            to_address: "eve@example.org".into(),
            to_name: "Eve".into(),
            subject: "BriefThreat registration".into(),
            text_body: "text".into(),
            html_body: "<p>html</p>".into(),
            created_at: 1_700_000_000,
            attempts: 0,
        };
        let variants = [
            OutboxMessage {
                to_name: "Eve\r\nBcc: x@evil.example".into(),
                ..good.clone()
            },
            OutboxMessage {
                to_name: "Eve\0".into(),
                ..good.clone()
            },
            OutboxMessage {
                subject: "Hi\nBcc: x@evil.example".into(),
                ..good.clone()
            },
            OutboxMessage {
                to_address: "eve@example.org\r\nBcc: x@evil.example".into(),
                ..good.clone()
            },
        ];
        for bad in variants {
            let built = std::panic::catch_unwind(|| build(&config, &bad).map(|m| m.formatted()));
            assert!(matches!(built, Ok(Err(SendError::Permanent(_)))), "{bad:?}");
        }
        assert!(build(&config, &good).is_ok());
    }
}
