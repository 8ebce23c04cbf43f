//! HTTP plumbing shared by both servers: media-type matching, response builders, percent coding,
//! the request log.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::{RecordedRequest, SimServer};

/// The media type of a header value without parameters, lower-cased: `Application/JSON; q=1` → `application/json`.
pub(crate) fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Whether an `Accept` header admits `produced` (upm-rest-api.md §3): no header, `*/*`, `type/*` or
/// the exact type; a range with `q=0` admits nothing.
pub(crate) fn accepts(accept: Option<&str>, produced: &str) -> bool {
    let Some(accept) = accept.filter(|accept| !accept.trim().is_empty()) else {
        return true;
    };
    let produced = produced.to_ascii_lowercase();
    let (produced_type, _) = produced.split_once('/').unwrap_or((produced.as_str(), ""));
    accept.split(',').any(|range| {
        let refused = range
            .split(';')
            .skip(1)
            .any(|parameter| matches!(parameter.trim().split_once('='), Some((name, value)) if name.trim() == "q" && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)));
        if refused {
            return false;
        }
        let range = essence(range);
        match range.split_once('/') {
            Some(("*", "*")) => true,
            Some((range_type, "*")) => range_type == produced_type,
            _ => range == produced,
        }
    })
}

/// Whether an `Accept` header names `application/json` itself (not via a wildcard).
pub(crate) fn names_json(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept
            .split(',')
            .any(|range| essence(range) == "application/json")
    })
}

/// Whether the `<textarea>` quirk applies: `Accept` contains `text/html` or `*` (upm-rest-api.md §5.7).
pub(crate) fn wants_textarea(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("text/html") || accept.contains('*'))
}

/// A JSON body with the given content type.
pub(crate) fn json<T: Serialize + ?Sized>(
    status: StatusCode,
    content_type: &str,
    body: &T,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_response(status, content_type, bytes),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            &error.to_string(),
        ),
    }
}

pub(crate) fn text(status: StatusCode, content_type: &str, body: &str) -> Response {
    bytes_response(status, content_type, body.as_bytes().to_vec())
}

pub(crate) fn bytes_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    set_header(&mut response, header::CONTENT_TYPE, content_type);
    response
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// A JSON body wrapped in `<textarea>…</textarea>` and served as `text/html` (upm-rest-api.md §5.7).
pub(crate) fn textarea<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let json = serde_json::to_string(body).unwrap_or_default();
    text(
        status,
        "text/html;charset=UTF-8",
        &format!("<textarea>{json}</textarea>"),
    )
}

pub(crate) fn set_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

pub(crate) fn set_named_header(response: &mut Response, name: &'static str, value: &str) {
    set_header(response, header::HeaderName::from_static(name), value);
}

/// A redirect or created-resource response with an absolute `Location`.
pub(crate) fn located(status: StatusCode, location: &str) -> Response {
    let mut response = empty(status);
    set_header(&mut response, header::LOCATION, location);
    response
}

/// 405 with the allowed methods.
pub(crate) fn method_not_allowed(allowed: &[Method]) -> Response {
    let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    set_header(&mut response, header::ALLOW, &allow.join(","));
    response
}

/// Everything but RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Decodes `%XX` escapes of a path segment; `None` when the result is not UTF-8 or an escape is broken.
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    // `percent-encoding` keeps a broken escape as written; a path with one is refused here.
    let mut rest = segment;
    while let Some(at) = rest.find('%') {
        let hex = rest.get(at + 1..at + 3)?;
        if !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        rest = &rest[at + 3..];
    }
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Encodes a value for use as one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn percent_encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Decoded `name=value` pairs of a query string.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The log entry for one exchange; only the scheme of `Authorization` is kept, never the credential.
/// `status` is 0 when no answer was sent (a dropped connection).
pub(crate) fn recorded(
    server: SimServer,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    status: u16,
) -> RecordedRequest {
    RecordedRequest {
        server,
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        content_type: header_text(headers, header::CONTENT_TYPE).map(str::to_string),
        accept: header_text(headers, header::ACCEPT).map(str::to_string),
        auth_scheme: header_text(headers, header::AUTHORIZATION)
            .and_then(|value| value.split_whitespace().next())
            .map(str::to_string),
        status,
        node: None,
        received: std::time::Instant::now(),
        elapsed: std::time::Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matching() {
        let plugin = "application/vnd.atl.plugins.plugin+json";
        assert!(accepts(None, plugin));
        assert!(accepts(Some("*/*"), plugin));
        assert!(accepts(Some("application/*"), plugin));
        assert!(accepts(
            Some("text/html, application/vnd.atl.plugins.plugin+json;q=0.9"),
            plugin
        ));
        assert!(!accepts(Some("application/json"), plugin));
        assert!(!accepts(Some("text/*"), plugin));
        assert!(!accepts(
            Some("application/vnd.atl.plugins.plugin+json;q=0"),
            plugin
        ));
    }

    #[test]
    fn percent_coding_round_trips() {
        assert_eq!(
            percent_decode("a%2Fb%20c-key").as_deref(),
            Some("a/b c-key")
        );
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_encode("com.example a/b"), "com.example%20a%2Fb");
    }
}
