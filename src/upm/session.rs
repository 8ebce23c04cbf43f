//! How a request reaches one instance's UPM: credentials on every request, the instance's cookie
//! jar (session and load-balancer affinity), retries (reads on failure, changes only when the server
//! says it did not process them), and the screening of answers that are not UPM's.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use reqwest::header::ACCEPT;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::answer::{request_error, Answer};
use super::client::UpmClient;
use super::diagnose::web_page;
use super::error::UpmError;
use crate::http::{self, Call};
use crate::model::{Credentials, DesiredInstance};

/// A request to UPM not sent yet: the call and the request built for it, with credentials.
pub(super) struct Outgoing {
    pub call: Call,
    pub builder: RequestBuilder,
}

impl Outgoing {
    /// Adds to the request (headers, a body, a timeout).
    pub(super) fn with(self, add: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        Self {
            call: self.call,
            builder: add(self.builder),
        }
    }
}

impl UpmClient {
    /// The request for `call`, accepting `accept`, with the instance's credentials.
    pub(super) fn request(&self, call: Call, accept: &str) -> Outgoing {
        let builder = self
            .http
            .request(call.method.clone(), (*call.url).clone())
            .header(ACCEPT, accept);
        let builder = match &self.credentials {
            Credentials::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
            Credentials::Bearer { token } => builder.bearer_auth(token.expose()),
        };
        Outgoing { call, builder }
    }

    /// GETs `url` and reads its successful answer as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        accept: &str,
    ) -> Result<T, UpmError> {
        self.send(self.request(Call::get(url), accept))
            .await?
            .success()
            .await?
            .json()
            .await
    }

    /// Sends a request: a read (GET, HEAD: they change nothing) with retries, a change once. A
    /// mutating request is never repeated here: after a lost answer the caller re-reads the state
    /// and decides (see `execute`). A web page instead of UPM's JSON and a 401 are errors.
    pub(super) async fn send(&self, outgoing: Outgoing) -> Result<Answer, UpmError> {
        self.send_retrying(outgoing, true).await
    }

    /// [`Self::send`] for a read whose failure costs only speed (an optional fast path): sent
    /// once, never retried, so a failing endpoint costs one attempt and no warning.
    pub(super) async fn send_once(&self, outgoing: Outgoing) -> Result<Answer, UpmError> {
        self.send_retrying(outgoing, false).await
    }

    async fn send_retrying(&self, outgoing: Outgoing, retry: bool) -> Result<Answer, UpmError> {
        let Outgoing { call, builder } = outgoing;
        tracing::debug!(request = %call, "upm request");
        let result = if call.is_read() && retry {
            http::send_read_within(builder, &self.settings, &call).await
        } else {
            // A change (or a read sent once) is sent once, within the caps on requests in flight
            // like every read.
            let _permit = self.settings.limits.request(&call.url).await;
            if call.is_read() {
                http::send_on_runtime(builder).await
            } else {
                builder.send().await
            }
        };
        let response = result.map_err(|error| request_error(&call, &error))?;
        tracing::debug!(status = %response.status(), "upm response");
        self.register_session_cookies();
        // UPM answers JSON (or JSON in a `<textarea>`, §5.7). A web page comes from something
        // else: a login or SSO page, a setup or upgrade screen, a proxy's maintenance page
        // (field-reports.md). Whatever its status, it is not UPM's answer.
        let answer = web_page(Answer {
            call,
            response,
            deadline: self.settings.request_timeout,
        })
        .await
        .map_err(|error| *error)?;
        // 401 is the product refusing the credentials, UPM refusing a permission, or WebSudo
        // (§2); 403s are UPM's own refusals (token, system app, upload gate), classified later.
        if answer.status() == StatusCode::UNAUTHORIZED {
            return Err(answer.into_error().await);
        }
        Ok(answer)
    }

    /// Sends a change (POST, PUT, DELETE). A 429, or a 503 with `Retry-After`, means the request
    /// was not processed (rate limiting, upm-rest-api.md §6; field-reports.md): it is sent again
    /// after the wait the server asks for, within the retry bounds (`--retries`,
    /// `--retry-max-seconds`). Any other answer is returned as it is: a change is never repeated
    /// blindly. `build` makes the request anew for each try (an upload's body is a stream).
    pub(super) async fn send_change<F, Fut>(&self, build: F) -> Result<Answer, UpmError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Outgoing, UpmError>>,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let answer = self.send(build().await?).await?;
            let status = answer.status();
            let retry_after = http::retry_after(&answer.response);
            let not_processed = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
            if !not_processed {
                return Ok(answer);
            }
            let Some(wait) = self.settings.retry.delay(
                attempt,
                started.elapsed(),
                retry_after,
                &mut fastrand::Rng::new(),
            ) else {
                return Ok(answer);
            };
            self.settings
                .notices
                .emit(crate::notice::Notice::ResendingChange {
                    call: answer.call.to_string(),
                    attempt,
                    wait,
                    status: status.to_string(),
                });
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Makes the session cookies the instance set secrets of this run, so a server that echoes
    /// them (in an error body, say) never has them printed or reported (`crate::scrub`). Short
    /// values, such as a load balancer's node name, are not secrets.
    fn register_session_cookies(&self) {
        use reqwest::cookie::CookieStore;
        let Some(header) = self.cookies.cookies(&self.api) else {
            return;
        };
        for cookie in header.to_str().unwrap_or_default().split(';') {
            if let Some((_, value)) = cookie.split_once('=') {
                let value = value.trim();
                if value.len() >= 16 {
                    crate::scrub::register(value);
                }
            }
        }
    }
}

/// The cookie jar of an instance (by name and URL) for this run: shared by every client of that
/// instance built from the same settings, so session and load-balancer affinity cookies hold for
/// the whole run.
pub(super) fn cookie_jar(
    settings: &crate::http::HttpSettings,
    instance: &DesiredInstance,
) -> Arc<reqwest::cookie::Jar> {
    settings
        .cookies
        .jar(&format!("{}\n{}", instance.name, instance.url))
}
