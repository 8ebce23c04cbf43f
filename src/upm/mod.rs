//! The only code that speaks UPM's REST API (`/rest/plugins/1.0/`): reads live state, installs,
//! uninstalls, enables, disables and licenses apps, following the protocol as it really is
//! (upm-rest-api.md).
//!
//! - [`client`]: [`UpmClient`], one instance's endpoints (reads, changes).
//! - `install`: the install POST and the task that follows it.
//! - `session`: how a request reaches the instance (credentials, cookies, retries).
//! - `answer`: an answer with its call, read as JSON or classified into an [`UpmError`].
//! - `diagnose`: web pages instead of UPM, a 404 where UPM should be, refused installs.
//! - [`error`]: [`UpmError`] and its hints.
//! - [`wire`]: UPM's JSON bodies and media types.
//!
//! HTTP itself (client building, retries of reads, body caps, TLS) is [`crate::http`]'s.

mod answer;
pub mod client;
mod diagnose;
pub mod error;
mod install;
mod session;
pub mod wire;

pub use client::{fill_licenses, licensed_installed, FirstRead, Removal, SideRead, UpmClient};
pub use diagnose::WebPageKind;
pub use error::UpmError;
pub use install::InstallFrom;

/// A client for a Jira at `url` with Basic credentials and default settings, for unit tests.
#[cfg(test)]
fn test_client(url: &str) -> UpmClient {
    let instance = crate::model::DesiredInstance {
        name: "jira".into(),
        url: url::Url::parse(url).unwrap(),
        product: crate::model::Product::Jira,
        hosting: Default::default(),
        credentials: crate::model::Credentials::Basic {
            username: "admin".into(),
            password: crate::model::Secret::new("pw"),
        },
        transport: Default::default(),
        unmanaged: Default::default(),
        apps: Default::default(),
    };
    UpmClient::new(&instance, &crate::http::HttpSettings::default()).unwrap()
}
