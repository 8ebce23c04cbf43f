//! The one way these tests start a simulator and talk to it: loopback listeners on port 0 and a
//! client that shows redirects instead of following them.

use std::net::SocketAddr;

use reqwest::Client;
use upmsync_sim::{Sim, SimConfig};

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
