//! The three ways out: SMTP (lettre, one pooled connection reused across messages), Amazon
//! SES (raw MIME through SESv2), and `.eml` files for the embedded default.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shared::config::{Config, EmailTransport, SmtpSecurity};
use shared::outbox::OutboxMessage;

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
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Ses(aws_sdk_sesv2::Client),
    File(PathBuf),
}

impl Transport {
    pub async fn from_config(config: &Config) -> Result<Self, String> {
        match config.email_transport {
            EmailTransport::Smtp => {
                let smtp = config
                    .smtp
                    .as_ref()
                    .ok_or("configuration error: SMTP_HOST is required for SMTP delivery")?;
                let builder = match smtp.security {
                    SmtpSecurity::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(|e| format!("configuration error: SMTP_HOST {e}"))?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|e| format!("configuration error: SMTP_HOST {e}"))?,
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                };
                let mut builder = builder
                    .port(smtp.port)
                    .timeout(Some(Duration::from_secs(10)));
                if let Some(user) = &smtp.user {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        smtp.password.clone().unwrap_or_default(),
                    ));
                }
                Ok(Transport::Smtp(builder.build()))
            }
            EmailTransport::Ses => {
                let mut loader = aws_config::from_env();
                if let Some(endpoint) = &config.ses_endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                Ok(Transport::Ses(aws_sdk_sesv2::Client::new(
                    &loader.load().await,
                )))
            }
            EmailTransport::File => {
                let dir = config.data_dir.join("mail");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(Transport::File(dir))
            }
        }
    }

    pub async fn send(&self, config: &Config, message: &OutboxMessage) -> Result<(), SendError> {
        let email = build(config, message)?;
        match self {
            Transport::Smtp(smtp) => smtp.send(email).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else if e.is_transient() {
                    SendError::Transient(e.to_string())
                } else {
                    SendError::Unavailable(e.to_string())
                }
            }),
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
    let from_address: Address = config
        .email_from
        .parse()
        .map_err(|e| SendError::Permanent(format!("EMAIL_FROM {:?}: {e}", config.email_from)))?;
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
        .from(Mailbox::new(Some(config.email_name.clone()), from_address))
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
        shared::runtime::init_process();
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
            ..message
        };
        assert!(matches!(build(&config, &bad), Err(SendError::Permanent(_))));
    }
}
