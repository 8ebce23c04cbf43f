//! Who is calling: Basic (users) and Bearer (personal access tokens), and the 401/permission
//! responses of upm-rest-api.md §2.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;

use super::http;
use super::state::Shared;

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No credentials (or a scheme the product does not know).
    Anonymous,
    /// Credentials were given and are wrong.
    Failed,
    User {
        name: String,
        sysadmin: bool,
    },
}

impl Identity {
    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            Identity::User { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Resolves the `Authorization` header against the configured users and tokens.
pub(crate) fn identify(shared: &Shared, headers: &HeaderMap) -> Identity {
    let Some(value) = http::header_text(headers, header::AUTHORIZATION) else {
        return Identity::Anonymous;
    };
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let credential = credential.trim();
    let user = |name: &str| {
        shared
            .users
            .iter()
            .find(|user| user.name == name)
            .map(|user| Identity::User {
                name: user.name.clone(),
                sysadmin: user.sysadmin,
            })
    };
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((name, password)) = decoded.as_deref().and_then(|text| text.split_once(':'))
        else {
            return Identity::Failed;
        };
        let known = shared
            .users
            .iter()
            .any(|user| user.name == name && user.password == password);
        return if known {
            user(name).unwrap_or(Identity::Failed)
        } else {
            Identity::Failed
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return shared
            .access_tokens
            .iter()
            .find(|(token, _)| token == credential)
            .and_then(|(_, owner)| user(owner))
            .unwrap_or(Identity::Failed);
    }
    // guess: an unknown scheme is ignored by Seraph, so the request is anonymous.
    Identity::Anonymous
}

/// 401 with the REST module's `Status` entity: JSON when `Accept` names `application/json`, XML
/// otherwise (upm-rest-api.md §2, `AuthenticatedResourceFilter` / `SecurityExceptionMapper`).
pub(crate) fn unauthenticated(accept: Option<&str>) -> Response {
    const MESSAGE: &str = "Client must be authenticated to access this resource.";
    if http::names_json(accept) {
        http::json(
            StatusCode::UNAUTHORIZED,
            "application/json;charset=UTF-8",
            &serde_json::json!({"message": MESSAGE, "status-code": 401}),
        )
    } else {
        http::text(
            StatusCode::UNAUTHORIZED,
            "application/xml;charset=UTF-8",
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><status><status-code>401</status-code><message>{MESSAGE}</message></status>"
            ),
        )
    }
}

/// A `PermissionException` response: the plain message as body under the error media type
/// (upm-rest-api.md §2: the JSON provider leaves a `String` entity untouched).
pub(crate) fn permission_denied(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::UNAUTHORIZED => "Must have permission to access this resource.",
        StatusCode::CONFLICT => "Cannot access this resource because a precondition failed.",
        _ => "Cannot access this resource on this system.",
    };
    http::text(status, "application/vnd.atl.plugins.error+json", message)
}
