//! The retrying read every client uses, and why a request got no HTTP answer.

use std::fmt;
use std::time::Instant;

use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response};

use super::Call;
use crate::retry::{self, RetryPolicy};

/// Why a request got no (whole) HTTP answer, in words an admin can act on: reqwest's own chain is
/// long and internal ("client error (Connect)"), its innermost cause is what matters. reqwest puts
/// the URL (with a upm-token query) into its own message, which is never shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// No answer within the request timeout.
    TimedOut,
    /// The TLS handshake failed (an untrusted certificate, usually); holds the innermost cause.
    Tls(String),
    /// No connection (refused, unknown host, unreachable); holds the innermost cause.
    Connect(String),
    /// Anything else (a reset, a broken body); holds the innermost cause.
    Other(String),
}

impl TransportFailure {
    /// Classifies a reqwest error.
    pub fn of(error: &reqwest::Error) -> Self {
        let root = crate::error::root_cause(error).to_string();
        let chain = crate::error::chain(error)
            .skip(1)
            .map(|cause| cause.to_string().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(": ");
        if error.is_timeout() {
            Self::TimedOut
        } else if chain.contains("certificate")
            || chain.contains("tls")
            || chain.contains("handshake")
        {
            Self::Tls(root)
        } else if error.is_connect() {
            Self::Connect(root)
        } else {
            Self::Other(root)
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Tls(_) => Some("if the server uses a private CA, add it to the system trust store, point SSL_CERT_FILE at it, or name it in the instance's `ca_file`".into()),
            _ => None,
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str(
                "the request timed out (is the server overloaded, or a firewall dropping packets?)",
            ),
            Self::Tls(root) => write!(f, "TLS failed: {root}"),
            Self::Connect(root) => {
                write!(
                    f,
                    "could not connect: {root} (is the URL right and the server up?)"
                )
            }
            Self::Other(root) => f.write_str(root),
        }
    }
}

/// Sends a read (a request that changes nothing), again after connection errors, timeouts, 429 and
/// 5xx, within `policy`: backoff with jitter, honouring `Retry-After` (seconds or an HTTP date).
/// Each retry is a [`crate::notice::Notice::RetryingRead`]. The last answer or error is returned. A request whose body cannot be cloned is sent once.
/// No cap on requests in flight applies: see [`send_read_within`].
pub async fn send_read(
    request: RequestBuilder,
    policy: &RetryPolicy,
    call: &Call,
    notices: &crate::notice::Notices,
) -> Result<Response, reqwest::Error> {
    read(request, policy, call, notices, None).await
}

/// [`send_read`] with the settings' retry bounds and notices, each attempt within the settings'
/// caps on requests in flight ([`super::Limits`]): a slot is held while the attempt is sent and
/// its headers arrive, never during the wait before a retry.
pub async fn send_read_within(
    request: RequestBuilder,
    settings: &super::HttpSettings,
    call: &Call,
) -> Result<Response, reqwest::Error> {
    read(
        request,
        &settings.retry,
        call,
        &settings.notices,
        Some(&settings.limits),
    )
    .await
}

/// Sends a request as a task of its own on the runtime's worker threads, so that connecting
/// (on loopback, the kernel runs both ends of the handshake in the caller) and writing spread over
/// every core when many instances are read at once, instead of all happening on the thread that
/// polls the instances' futures. Dropping the returned future aborts the request, as dropping
/// `send()` would.
///
/// # Panics
///
/// Resumes the task's panic, if it panicked.
pub(crate) async fn send_on_runtime(request: RequestBuilder) -> Result<Response, reqwest::Error> {
    /// Aborts the task when the caller stops waiting for it.
    struct Abort(tokio::task::JoinHandle<Result<Response, reqwest::Error>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = Abort(tokio::spawn(request.send()));
    match (&mut task.0).await {
        Ok(outcome) => outcome,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only the runtime shutting down cancels it, and then nobody waits for this.
            Err(error) => unreachable!("a request task was cancelled: {error}"),
        },
    }
}

async fn read(
    request: RequestBuilder,
    policy: &RetryPolicy,
    call: &Call,
    notices: &crate::notice::Notices,
    limits: Option<&super::Limits>,
) -> Result<Response, reqwest::Error> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let permit = match limits {
            Some(limits) => Some(limits.request(&call.url).await),
            None => None,
        };
        let Some(this_try) = request.try_clone() else {
            return send_on_runtime(request).await;
        };
        let outcome = send_on_runtime(this_try).await;
        drop(permit);
        let retry_after = match &outcome {
            Ok(response) if retry::is_retryable_status(response.status().as_u16()) => {
                Some(retry_after(response))
            }
            Ok(_) => None,
            Err(_) => Some(None),
        };
        let Some(retry_after) = retry_after else {
            return outcome;
        };
        let Some(wait) = policy.delay(
            attempt,
            started.elapsed(),
            retry_after,
            &mut fastrand::Rng::new(),
        ) else {
            return outcome;
        };
        let why = match &outcome {
            Ok(response) => response.status().to_string(),
            Err(error) => TransportFailure::of(error).to_string(),
        };
        notices.emit(crate::notice::Notice::RetryingRead {
            call: call.to_string(),
            attempt,
            wait,
            why,
        });
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// The wait an answer's `Retry-After` asks for, if it has a readable one.
pub(crate) fn retry_after(response: &Response) -> Option<std::time::Duration> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| retry::parse_retry_after(value, std::time::SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    /// A request sent as its own task still ends when its caller stops waiting (an interrupted
    /// read, a timeout around it): the connection is closed rather than left to run on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_request_sent_on_the_runtime_closes_its_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/never-answered", listener.local_addr().unwrap());
        let (accepted, server_side) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            accepted.send(()).unwrap();
            // Reads the request, then waits for the client to close: 0 bytes is a closed
            // connection; the read timeout fails the test instead of hanging it.
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut buffer = [0u8; 4096];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        });
        let client = reqwest::Client::new();
        let sending = send_on_runtime(client.get(&url));
        tokio::select! {
            _ = sending => panic!("the server never answers"),
            () = async {
                while server_side.try_recv().is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            } => {}
        }
        // `sending` is dropped here; its task is aborted and the connection closed.
        let closed = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
        assert!(
            closed,
            "the connection stayed open after the caller gave up"
        );
    }
}
