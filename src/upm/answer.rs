//! An answer from UPM together with the call it answers ([`Answer`]): read as JSON, or classified
//! into an [`UpmError`] by its status, `subCode` and words (upm-rest-api.md §2, §5, §6).

use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;

use super::error::UpmError;
use super::wire;
use crate::http::body::{self, collapse, excerpt};
use crate::http::{Call, TransportFailure};
use crate::model::redact_url;

/// UPM's refusal of a missing, wrong or expired upm-token (upm-rest-api.md §5.2).
const INVALID_TOKEN: &str = "upm.error.invalid.token";
/// UPM's refusal when WebSudo (a secure administrator session) is demanded (upm-rest-api.md §2).
const WEBSUDO: &str = "upm.websudo.error";

/// A response and the call it answers, so errors name the call without passing it again.
#[derive(Debug)]
pub(super) struct Answer {
    pub call: Call,
    pub response: Response,
    /// How long reading the body may take (the request timeout).
    pub deadline: Duration,
}

impl Answer {
    /// The answer's status.
    pub(super) fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The answer when its status is a success, else the error it means.
    pub(super) async fn success(self) -> Result<Answer, UpmError> {
        if self.status().is_success() {
            Ok(self)
        } else {
            Err(self.into_error().await)
        }
    }

    /// The body of a successful answer as `T`.
    pub(super) async fn json<T: DeserializeOwned>(self) -> Result<T, UpmError> {
        let text = body::read_text(self.response, body::MAX_JSON_BYTES, self.deadline)
            .await
            .map_err(|error| body_error(&self.call, error))?;
        serde_json::from_str(wire::strip_textarea(&text)).map_err(|error| UpmError::Decode {
            call: self.call,
            reason: format!("{error} in `{}`", excerpt(&text)),
        })
    }

    /// The body of a successful answer, whole (within the JSON cap).
    pub(super) async fn bytes(self) -> Result<(Call, Vec<u8>), UpmError> {
        let bytes = body::read_capped(self.response, body::MAX_JSON_BYTES, self.deadline)
            .await
            .map_err(|error| body_error(&self.call, error))?;
        Ok((self.call, bytes))
    }

    /// The error an unsuccessful answer means: a redirect, WebSudo, a refused token, a missing
    /// permission, refused credentials, a proxy's 413, rate limiting, or else its status with
    /// UPM's message (or an excerpt of the body).
    pub(super) async fn into_error(self) -> UpmError {
        let Answer {
            call,
            response,
            deadline,
        } = self;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| call.url.join(value).ok())
                .map_or_else(
                    || "(no Location header)".to_string(),
                    |target| redact_url(&target),
                );
            return UpmError::Redirect {
                call,
                status,
                location,
            };
        }
        let retry_after = crate::http::retry_after(&response).map(|wait| wait.as_secs());
        let text = body::error_text(response, deadline).await;
        let parsed: wire::ErrorBody =
            serde_json::from_str(wire::strip_textarea(&text)).unwrap_or_default();
        let body = parsed
            .error_message
            .as_deref()
            .map(collapse)
            .unwrap_or_else(|| excerpt(&text));
        let lower = text.to_ascii_lowercase();
        match (status.as_u16(), parsed.sub_code.as_deref()) {
            (401 | 403, Some(WEBSUDO)) => UpmError::WebSudo { call, status },
            (403, Some(INVALID_TOKEN)) => UpmError::InvalidToken { call },
            (401 | 403 | 409, None)
                if lower.contains("must have permission")
                    || lower.contains("cannot access this resource") =>
            {
                UpmError::Permission { call, status, body }
            }
            (401, _) => UpmError::Unauthorized { call, status, body },
            (413, _) => UpmError::TooLarge { call, size: None },
            (429, _) => UpmError::RateLimited { call, retry_after },
            _ => UpmError::Status {
                call,
                status,
                sub_code: parsed.sub_code,
                body,
            },
        }
    }
}

/// A request that got no HTTP answer.
pub(super) fn request_error(call: &Call, error: &reqwest::Error) -> UpmError {
    UpmError::Request {
        call: call.clone(),
        failure: TransportFailure::of(error),
    }
}

/// A body that could not be read whole: too large is a body upmsync cannot read; a stall or a
/// broken connection is a request without a (whole) answer.
pub(super) fn body_error(call: &Call, error: body::BodyError) -> UpmError {
    let call = call.clone();
    match error {
        body::BodyError::TooLarge { .. } => UpmError::Decode {
            call,
            reason: error.to_string(),
        },
        body::BodyError::Timeout { .. } => UpmError::Body {
            call,
            reason: error.to_string(),
        },
        body::BodyError::Transport(failure) => UpmError::Request { call, failure },
    }
}
