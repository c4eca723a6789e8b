//! Prompt delivery in AWS: after a commit that queued e-mail, the API function invokes the
//! `email` function asynchronously (Lambda `Invoke` with `X-Amz-Invocation-Type: Event`,
//! SigV4-signed with the function's own credentials), so nothing waits for the
//! one-minute schedule, which stays as the backstop for retries.
//!
//! Configured by `EMAIL_FUNCTION_NAME` (set by template.yaml; with `AWS_REGION`) or by
//! `EMAIL_INVOKE_URL` (a full Invoke URL, for other emulators). Unset, as in `make run` and
//! the self-hosted stack, it does nothing: the local scheduler polls every 0.2 s.
//! Best effort: a failed trigger is logged, and the schedule delivers the mail anyway.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_http::http::{Method, Request};

use crate::Config;

type HttpsClient = Client<HttpsOverTcp, Full<Bytes>>;

/// What [`https_connector`] makes.
pub type HttpsOverTcp = hyper_rustls::HttpsConnector<HttpConnector>;

/// The workspace's one set-up for outgoing HTTPS (this trigger, and SES in `email`): HTTP/1.1,
/// plain `http://` allowed (emulators), rustls with webpki roots. The provider is named
/// rather than left to rustls' default: every TLS client of the workspace uses *ring*.
pub fn https_connector(mut tcp: HttpConnector) -> Result<HttpsOverTcp, rustls::Error> {
    tcp.enforce_http(false);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?;
    Ok(builder.https_or_http().enable_http1().wrap_connector(tcp))
}

pub struct Notifier {
    target: Option<Target>,
}

struct Target {
    url: String,
    region: String,
    client: HttpsClient,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Some(t) => write!(f, "Notifier({})", t.url),
            None => f.write_str("Notifier(off)"),
        }
    }
}

impl Notifier {
    pub fn from_config(config: &Config) -> Self {
        let region = config
            .email
            .aws_region
            .clone()
            .unwrap_or_else(|| "us-east-1".into());
        let url = match (&config.email.invoke_url, &config.email.function_name) {
            (Some(url), _) => url.clone(),
            (None, Some(name)) => format!(
                "https://lambda.{region}.amazonaws.com/2015-03-31/functions/{name}/invocations"
            ),
            (None, None) => return Self { target: None },
        };
        let connector = match https_connector(HttpConnector::new()) {
            Ok(connector) => connector,
            Err(e) => {
                tracing::error!(error = %e, "no TLS for the email trigger; the schedule delivers");
                return Self { target: None };
            }
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            target: Some(Target {
                url,
                region,
                client,
            }),
        }
    }

    /// Tells the `email` function that the outbox has new rows.
    pub async fn outbox_changed(&self) {
        let Some(target) = &self.target else { return };
        if let Err(e) = target.invoke().await {
            tracing::warn!(error = %e, "could not trigger the email function; the schedule will");
        }
    }
}

impl Target {
    async fn invoke(&self) -> Result<(), String> {
        let body = Bytes::from_static(b"{}");
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.url)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "Event")
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        if let Some(credentials) = credentials_from_env() {
            let identity = credentials.into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name("lambda")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| e.to_string())?
                .into();
            let headers: Vec<(&str, &str)> = request
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
                .collect();
            let signable = SignableRequest::new(
                "POST",
                &self.url,
                headers.into_iter(),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| e.to_string())?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| e.to_string())?
                .into_parts();
            instructions.apply_to_request_http1x(&mut request);
        }
        let response = tokio::time::timeout(Duration::from_secs(3), self.client.request(request))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("Invoke answered {}", response.status()))
        }
    }
}

/// The credentials Lambda gives every function in its environment.
fn credentials_from_env() -> Option<Credentials> {
    let key = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok()?;
    let token = std::env::var("AWS_SESSION_TOKEN").ok();
    Some(Credentials::new(key, secret, token, None, "environment"))
}
