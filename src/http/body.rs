//! Bounded reading of response bodies from UPM and the Marketplace, and the excerpt of a body an
//! error shows: every body is read with a
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
    Transport(super::TransportFailure),
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
                chunk.map_err(|error| BodyError::Transport(super::TransportFailure::of(&error)))?;
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

/// How much of an error body is shown, in characters.
pub const BODY_EXCERPT: usize = 300;

/// A short, printable excerpt of a body: markup (XML, HTML) is reduced to its text, whitespace
/// collapsed, control characters escaped, at most [`BODY_EXCERPT`] characters.
pub fn excerpt(text: &str) -> String {
    // Secrets first: before markup is stripped or the text is cut, so no piece of one survives.
    let text = crate::scrub::scrub(text);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let plain = if text.starts_with('<') {
        strip_tags(text)
    } else {
        text.to_string()
    };
    let plain = collapse(&plain);
    match plain.char_indices().nth(BODY_EXCERPT) {
        Some((index, _)) => format!("{}…", &plain[..index]),
        None => plain,
    }
}

/// The text between the tags of XML or HTML (`<status><message>m</message></status>` -> `m`),
/// without scripts and styles.
fn strip_tags(markup: &str) -> String {
    let mut text = String::new();
    let mut rest = markup;
    let lower_skip = ["<script", "<style"];
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let after = &rest[open..];
        let lower: String = after
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(tag) = lower_skip.iter().find(|tag| lower.starts_with(**tag)) {
            let closing = format!("</{}", &tag[1..]);
            match after.to_ascii_lowercase().find(&closing) {
                Some(end) => rest = &after[end + closing.len()..],
                None => return text,
            }
            if let Some(close) = rest.find('>') {
                rest = &rest[close + 1..];
            }
            continue;
        }
        match after.find('>') {
            Some(close) => rest = &after[close + 1..],
            None => return text,
        }
    }
    text.push_str(rest);
    text
}

/// Collapses runs of whitespace to one space and escapes control and bidi characters (the one rule
/// of [`crate::printable`]), so a body cannot move the cursor or hide a line of output.
pub fn collapse(text: &str) -> String {
    let text = crate::scrub::scrub(text);
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        crate::printable::push_char(&mut out, c);
    }
    out
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

    #[test]
    fn excerpts_show_the_text_of_markup_and_escape_control_characters() {
        let xml = "<?xml version=\"1.0\"?><status><status-code>401</status-code><message>Client must be authenticated to access this resource.</message></status>";
        assert_eq!(
            excerpt(xml),
            "401 Client must be authenticated to access this resource."
        );
        let html = "<html><head><style>body{}</style><script>var a = '<b>';</script></head><body><h1>Hello</h1></body></html>";
        assert_eq!(excerpt(html), "Hello");
        assert_eq!(excerpt("bad\u{1b}[2Jthing"), "bad\\u{1b}[2Jthing");
    }

    #[test]
    fn excerpt_truncates_long_bodies_on_char_boundaries() {
        let long = "é".repeat(1000);
        let shown = excerpt(&long);
        assert!(shown.chars().count() <= BODY_EXCERPT + 1);
        assert_eq!(excerpt("  "), "(empty body)");
    }
}
