//! A Data Center cluster: N product nodes behind one round-robin load balancer on the product listener.
//!
//! Plugins, licenses and install tasks are cluster-wide (upm-rest-api.md §5.9: tasks live in the
//! shared plugin settings), but upm-tokens are node-local (§5.2, §6): a token minted by one node is
//! refused by the others. The balancer pins a client to a node by cookie, as Atlassian's load
//! balancer guides ask: its own `ATL_AFFINITY=nodeN` cookie, or Tomcat's `JSESSIONID=<id>.nodeN`
//! whose `jvmRoute` suffix names the node. A request with neither goes to the next node in turn,
//! and the answer sets both cookies (field report: smartics `install_plugins.sh` keeps them so the
//! install POST reaches the node that issued the token).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use url::Url;

use super::config::SimConfig;
use super::state::Shared;

/// The balancer's own affinity cookie.
pub(crate) const AFFINITY_COOKIE: &str = "ATL_AFFINITY";
/// Tomcat's session cookie; its value ends in `.{jvmRoute}` on a cluster.
pub(crate) const SESSION_COOKIE: &str = "JSESSIONID";

impl SimConfig {
    /// Puts `nodes` product nodes behind one round-robin load balancer (default 1; 0 counts as 1).
    ///
    /// Plugins, licenses and tasks are shared; upm-tokens are per node, so a client must keep the
    /// `ATL_AFFINITY` or `JSESSIONID` cookie the first answer sets for its install POST to reach the
    /// node that issued its token. With one node no cookie is set or needed.
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// Sets the product's configured base URL (default: the simulator's own URL).
    ///
    /// UPM builds its links from it (upm-rest-api.md §1, §3): the absolute `Location` of the install
    /// 202 and of the task's 303, the absolute `manage`/`marketplace` links, and the path (context
    /// path) of the relative body links. Jira's `serverInfo.baseUrl` and the applinks manifest `url`
    /// report it. The listener keeps serving under its own context path, as behind a proxy.
    pub fn base_url(mut self, url: Url) -> Self {
        self.base_url = Some(url);
        self
    }
}

/// The node (1-based) that answers a request; put in the request's and the response's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node(pub usize);

/// Round-robin choice of the next node for requests that carry no affinity.
#[derive(Debug)]
pub(crate) struct Balancer {
    nodes: usize,
    next: AtomicUsize,
}

impl Balancer {
    /// A balancer over `nodes` nodes (at least one).
    pub(crate) fn new(nodes: usize) -> Self {
        Self {
            nodes: nodes.max(1),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn nodes(&self) -> usize {
        self.nodes
    }

    /// The next node in turn, 1-based.
    fn next_node(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.nodes + 1
    }

    /// The node a request's cookies pin it to, if any names a node of this cluster.
    ///
    /// guess: the balancer's own cookie wins over the session's route when both are present and
    /// disagree, as with a load balancer that inserts its own stickiness cookie.
    fn pinned(&self, headers: &HeaderMap) -> Option<usize> {
        let mut affinity = None;
        let mut session = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim() {
                    AFFINITY_COOKIE => affinity = affinity.or_else(|| self.route(value)),
                    SESSION_COOKIE => {
                        session = session.or_else(|| {
                            value
                                .rsplit_once('.')
                                .and_then(|(_, route)| self.route(route))
                        })
                    }
                    _ => {}
                }
            }
        }
        affinity.or(session)
    }

    /// `node3` → 3, when this cluster has such a node.
    fn route(&self, text: &str) -> Option<usize> {
        let number: usize = text.strip_prefix("node")?.parse().ok()?;
        (1..=self.nodes).contains(&number).then_some(number)
    }
}

/// The middleware in front of the product handler: picks the node, tells the handler which one
/// (request extension [`Node`]), and marks the answer with `X-ANODEID` and, for a request that
/// was not pinned on a cluster of 2+ nodes, the affinity and session cookies.
pub(crate) async fn layer(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let balancer = &shared.balancer;
    let pinned = balancer.pinned(request.headers());
    let node = pinned.unwrap_or_else(|| balancer.next_node());
    request.extensions_mut().insert(Node(node));
    let mut response = next.run(request).await;
    let name = format!("node{node}");
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-anodeid"), value);
    }
    // A single node needs no stickiness: nothing changes from a plain Jira without cookies.
    if balancer.nodes() > 1 && pinned.is_none() {
        let session_path = if shared.context_path.is_empty() {
            "/"
        } else {
            shared.context_path.as_str()
        };
        let session_id = format!("{:032X}", fastrand::u128(..));
        for cookie in [
            format!("{AFFINITY_COOKIE}={name}; Path=/; HttpOnly"),
            format!("{SESSION_COOKIE}={session_id}.{name}; Path={session_path}; HttpOnly"),
        ] {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
    }
    response.extensions_mut().insert(Node(node));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(text: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(text).unwrap());
        headers
    }

    #[test]
    fn round_robin_visits_every_node_in_turn() {
        let balancer = Balancer::new(3);
        let visited: Vec<usize> = (0..6).map(|_| balancer.next_node()).collect();
        assert_eq!(visited, [1, 2, 3, 1, 2, 3]);
        let single = Balancer::new(0);
        assert_eq!((single.next_node(), single.next_node()), (1, 1));
    }

    #[test]
    fn cookies_pin_to_a_node_of_the_cluster() {
        let balancer = Balancer::new(2);
        assert_eq!(balancer.pinned(&cookies("ATL_AFFINITY=node2")), Some(2));
        assert_eq!(
            balancer.pinned(&cookies("other=1; JSESSIONID=ABC123.node1")),
            Some(1)
        );
        assert_eq!(
            balancer.pinned(&cookies("JSESSIONID=ABC.node1; ATL_AFFINITY=node2")),
            Some(2)
        );
        // A node the cluster does not have, or no route at all, pins nothing.
        assert_eq!(balancer.pinned(&cookies("ATL_AFFINITY=node3")), None);
        assert_eq!(balancer.pinned(&cookies("JSESSIONID=ABC123")), None);
        assert_eq!(balancer.pinned(&HeaderMap::new()), None);
    }
}
