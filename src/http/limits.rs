//! How many requests a run has in flight: a cap per host (`host:port`, politeness), a cap on the
//! whole run (file descriptors), and how many instances are read at once. One [`Limits`] lives in
//! [`super::HttpSettings`]; its clones share the semaphores, so every client built from one
//! settings value (every instance's UPM client, the Marketplace client, the downloads) counts
//! against the same caps.
//!
//! File descriptors: a request in flight holds one connection; an instance being read keeps at
//! most [`UPM_IDLE_CONNECTIONS`] idle ones between its requests; the Marketplace client at most
//! the per-host cap. So a run holds at most about [`MAX_REQUESTS_IN_FLIGHT`] +
//! [`MAX_INSTANCES_READING`] × [`UPM_IDLE_CONNECTIONS`] + the per-host cap sockets (about 820 with
//! the defaults), whatever the number of instances: under Linux's usual soft limit of 1024
//! (`ulimit -n`), see `docs/commands.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// The default of `--max-requests-per-host`: enough for a plan's Marketplace lookups of 250 apps
/// to take 5 round trips (the goal of issue 10 is a plan in 10 at most), few enough to stay a
/// polite client of the public Marketplace: a burst of short JSON reads, each distinct question
/// asked once per run whatever the number of instances, 429 and `Retry-After` honoured (the same
/// order as uv's 50 concurrent downloads).
pub const DEFAULT_MAX_REQUESTS_PER_HOST: usize = 50;

/// Requests in flight in a whole run, all hosts together: 100 instances' first read wave (4
/// requests each) fits in one go, and the sockets stay well under 1024.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 512;

/// Instances whose live state is read at once (each holds a UPM client and its idle connections
/// while it is read).
pub const MAX_INSTANCES_READING: usize = 128;

/// Idle keep-alive connections a UPM client keeps (reqwest's `pool_max_idle_per_host`).
pub const UPM_IDLE_CONNECTIONS: usize = 2;

/// The caps of one run, shared by clones.
#[derive(Clone, Debug)]
pub struct Limits {
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    total: Arc<Semaphore>,
    instances: Arc<Semaphore>,
}

/// Leave to send one request: held while it is sent and its answer's headers arrive.
#[derive(Debug)]
pub struct RequestPermit {
    _host: Option<OwnedSemaphorePermit>,
    _total: Option<OwnedSemaphorePermit>,
}

/// Leave to read one instance: held while its UPM client lives.
#[derive(Debug)]
pub struct InstancePermit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_REQUESTS_PER_HOST)
    }
}

impl Limits {
    /// Caps of `per_host` requests in flight per `host:port` (at least 1), and the fixed run-wide
    /// caps ([`MAX_REQUESTS_IN_FLIGHT`], [`MAX_INSTANCES_READING`]).
    pub fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Arc::default(),
            total: Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT)),
            instances: Arc::new(Semaphore::new(MAX_INSTANCES_READING)),
        }
    }

    /// The cap per host.
    pub fn per_host(&self) -> usize {
        self.per_host
    }

    /// Waits until a request to `url`'s host may be sent. The host's slot is taken before the
    /// run-wide one, so requests queued for a busy host never hold slots other hosts could use.
    pub async fn request(&self, url: &Url) -> RequestPermit {
        let host = self.host(url);
        let host = host.acquire_owned().await.ok();
        let total = Arc::clone(&self.total).acquire_owned().await.ok();
        RequestPermit {
            _host: host,
            _total: total,
        }
    }

    /// Waits until one more instance may be read.
    pub async fn instance(&self) -> InstancePermit {
        InstancePermit {
            _slot: Arc::clone(&self.instances).acquire_owned().await.ok(),
        }
    }

    fn host(&self, url: &Url) -> Arc<Semaphore> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            hosts
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_host_waits_for_its_own_slots_only() {
        let limits = Limits::new(1);
        let a = Url::parse("http://a.example/x").unwrap();
        let a_again = Url::parse("http://a.example:80/y").unwrap();
        let b = Url::parse("http://b.example/x").unwrap();
        let held = limits.request(&a).await;
        // Another host is not held up.
        let _b = limits.request(&b).await;
        // The same host:port waits until the first request is done.
        let waiting = limits.request(&a_again);
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(held);
        let _second = waiting.await;
    }

    #[test]
    fn a_cap_of_zero_is_one() {
        assert_eq!(Limits::new(0).per_host(), 1);
    }
}
