//! Bounded reading of response bodies from UPM and the Marketplace: every body is read with a
//! size cap and within a total time, so a server (or something in front of it) that answers with
//! a huge or endless body costs an error naming the URL, never all the memory of the machine.
//!
//! Caps (documented in `docs/security.md`):
//! - [`MAX_JSON_BYTES`] (32 MiB) for JSON answers: the largest real answer, the plugin list of a
//!   Jira with a few hundred apps, is a few MiB.
//! - [`MAX_ERROR_BYTES`] (1 MiB) for error bodies and web pages, of which only an excerpt is shown.
//! - Downloads of artifacts have their own cap (`marketplace::download`).

use std::time::Duration;

use futures::StreamExt;
use reqwest::Response;

/// The cap on a JSON answer of UPM or the Marketplace.
pub const MAX_JSON_BYTES: usize = 32 * 1024 * 1024;
/// The cap on an error body or web page: only an excerpt of it is ever shown.
pub const MAX_ERROR_BYTES: usize = 1024 * 1024;

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {} MiB, the cap on answers upmsync reads (a real one is far smaller); upmsync stopped reading it", limit / (1024 * 1024))]
    TooLarge { limit: usize },
    #[error("the answer did not arrive whole within {} s; upmsync stopped reading it", deadline.as_secs())]
    Timeout { deadline: Duration },
    #[error("{0}")]
    Transport(String),
}

/// Reads a whole body, at most `limit` bytes, within `deadline`. A `Content-Length` above the
/// cap is refused before anything is read.
pub async fn read_capped(
    response: Response,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut stream = response.bytes_stream();
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|error| BodyError::Transport(super::transport_reason(&error)))?;
            if body.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Timeout { deadline }),
    }
}

/// [`read_capped`] as text (invalid UTF-8 replaced).
pub async fn read_text(
    response: Response,
    limit: usize,
    deadline: Duration,
) -> Result<String, BodyError> {
    let bytes = read_capped(response, limit, deadline).await?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

/// The text of an error body or web page, for an excerpt: at most [`MAX_ERROR_BYTES`]; a larger,
/// endless or broken body becomes a short note instead (an error is being reported already).
pub async fn error_text(response: Response, deadline: Duration) -> String {
    match read_text(response, MAX_ERROR_BYTES, deadline).await {
        Ok(text) => text,
        Err(BodyError::TooLarge { limit }) => {
            format!("(a body larger than {} KiB, not shown)", limit / 1024)
        }
        Err(BodyError::Timeout { .. }) => "(a body that did not arrive whole, not shown)".into(),
        Err(BodyError::Transport(_)) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(
        stream: impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>>
            + Send
            + Sync
            + 'static,
    ) -> Response {
        Response::from(http::Response::new(reqwest::Body::wrap_stream(stream)))
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_cap() {
        let endless = futures::stream::repeat_with(|| Ok(bytes::Bytes::from(vec![b' '; 4096])));
        let error = read_capped(response(endless), 64 * 1024, Duration::from_secs(600))
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::TooLarge { limit } if limit == 64 * 1024));
    }

    #[tokio::test]
    async fn a_stalled_body_stops_at_the_deadline() {
        let stalled = futures::stream::once(async { Ok(bytes::Bytes::from_static(b"[")) })
            .chain(futures::stream::pending());
        let error = read_capped(response(stalled), MAX_JSON_BYTES, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::Timeout { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let pieces = futures::stream::iter([
            Ok(bytes::Bytes::from_static(b"{\"a\":")),
            Ok(bytes::Bytes::from_static(b"1}")),
        ]);
        let text = read_text(response(pieces), 7, Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(text, "{\"a\":1}");
    }

    #[tokio::test]
    async fn an_error_body_too_large_is_a_note() {
        let endless = futures::stream::repeat_with(|| Ok(bytes::Bytes::from(vec![b'x'; 4096])));
        let text = error_text(response(endless), Duration::from_secs(600)).await;
        assert!(text.contains("not shown"), "{text}");
    }
}
