//! The one way these tests start a simulator and talk to it: loopback listeners on port 0, a
//! client that shows redirects instead of following them, UPM requests as admin, upm-tokens and
//! install tasks followed to their end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use upmsync_sim::{Sim, SimConfig};

/// The simulator's administrator (user and password).
pub(crate) const ADMIN: (&str, &str) = ("admin", "admin");

/// Loopback, any free port.
pub(crate) fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts a simulator with `config` on loopback (both listeners on free ports).
pub(crate) async fn start(config: SimConfig) -> Sim {
    Sim::start(config, any_port(), any_port())
        .await
        .expect("simulator starts on loopback")
}

/// An HTTP client that does not follow redirects, so tests see the simulator's `Location`.
pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client builds")
}

/// `{upm}/rest/plugins/1.0/{path}` on the simulator.
pub(crate) fn upm_url(sim: &Sim, path: &str) -> url::Url {
    sim.upm_url()
        .join(&format!("rest/plugins/1.0/{path}"))
        .expect("a UPM path joins the UPM URL")
}

/// A request to `{upm}/rest/plugins/1.0/{path}` through `client` as `user` (name, password).
pub(crate) fn upm_through(
    client: &Client,
    sim: &Sim,
    user: (&str, &str),
    method: Method,
    path: &str,
) -> RequestBuilder {
    client
        .request(method, upm_url(sim, path))
        .basic_auth(user.0, Some(user.1))
}

/// A request to `{upm}/rest/plugins/1.0/{path}` as `user` (name, password).
pub(crate) fn upm_as(sim: &Sim, user: (&str, &str), method: Method, path: &str) -> RequestBuilder {
    upm_through(&client(), sim, user, method, path)
}

/// A request to `{upm}/rest/plugins/1.0/{path}` as admin.
pub(crate) fn upm(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    upm_as(sim, ADMIN, method, path)
}

/// The upm-token UPM hands `user` (name, password) on `HEAD` of the collection.
pub(crate) async fn token_for(sim: &Sim, user: (&str, &str)) -> String {
    let response = upm_as(sim, user, Method::HEAD, "")
        .send()
        .await
        .expect("the simulator answers");
    header(&response, "upm-token")
}

/// The upm-token UPM hands the admin.
pub(crate) async fn token(sim: &Sim) -> String {
    token_for(sim, ADMIN).await
}

/// A header of `response` as text; empty when missing or not text.
pub(crate) fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The `Content-Type` of `response`; empty when missing.
pub(crate) fn content_type(response: &Response) -> String {
    header(response, CONTENT_TYPE.as_str())
}

/// Polls, as admin, the task the 202 `accepted` points at (its `Location`) until it no longer
/// runs, or 10 seconds have passed; returns the last answer.
pub(crate) async fn finish_task(accepted: &Response) -> Response {
    let location = header(accepted, LOCATION.as_str());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = client()
            .get(&location)
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
            .await
            .expect("the simulator answers");
        let running =
            response.status() == StatusCode::OK && !content_type(&response).contains("err");
        if !running || Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
