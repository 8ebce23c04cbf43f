//! Fault injection: a [`FaultPlan`] of rules that make chosen requests fail, stall, lose their
//! answer or slow down, and the layer in front of both listeners that applies it and records every
//! request (issue 4: the retries and recovery of `apply` are tested against these faults).

use std::convert::Infallible;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::cluster::Node;
use super::http;
use super::state::Shared;
use super::SimServer;

/// What the simulator does to chosen requests; the default has no rules and changes nothing.
///
/// Rules are tried in order and the first one that fires decides the request's fault; a request
/// gets at most one fault.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed of the `probability` draws; without one a random seed is chosen (and logged).
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// Which requests a fault applies to. Every filter left out matches everything.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `upm` or `marketplace`.
    #[serde(default)]
    pub server: Option<SimServer>,
    /// `GET`, `POST`, … (any case). Task faults match only POSTs.
    #[serde(default)]
    pub method: Option<String>,
    /// Matched anywhere in the request path (still percent-encoded, without the query); `*` stands
    /// for any run of characters and a trailing `$` anchors the pattern at the end of the path.
    #[serde(default)]
    pub path: Option<String>,
    /// Applies to the first N requests this rule matches only.
    #[serde(default)]
    pub first: Option<u32>,
    /// Applies to each matching request with this probability, drawn from the plan's seed.
    #[serde(default)]
    pub probability: Option<f64>,
    pub fault: Fault,
}

/// What happens to a request a rule fires on.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answers with this status (and `Retry-After` in seconds) instead of running the handler, so
    /// nothing changes.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Waits, then answers normally.
    Latency { millis: u64 },
    /// Closes the connection without an answer; the handler does not run.
    Drop,
    /// Runs the handler (state changes) and then closes the connection without an answer: the
    /// ambiguous failure of a mutating request.
    DropAfter,
    /// An install task started by the request ends as an error task with this `errorMessage`.
    TaskFail { message: String },
    /// An install task started by the request never finishes (stays pending).
    TaskHang,
    /// Streams the answer's body at this rate (meant for Marketplace downloads).
    SlowDownload { bytes_per_second: u64 },
    /// Answers with this error status and a body that echoes the request: its headers
    /// (`Authorization`, cookies, `upm-token` included), query and body, as a careless server or
    /// proxy error page does. The handler does not run. Proves that no secret comes back out.
    EchoRequest { status: u16 },
    /// Answers 200 `application/json` with a body that never ends: `[` and then spaces forever.
    /// The handler does not run. Proves that bodies are read with a cap.
    EndlessBody,
}

impl Fault {
    /// The fault's name in YAML.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "status",
            Fault::Latency { .. } => "latency",
            Fault::Drop => "drop",
            Fault::DropAfter => "drop_after",
            Fault::TaskFail { .. } => "task_fail",
            Fault::TaskHang => "task_hang",
            Fault::SlowDownload { .. } => "slow_download",
            Fault::EchoRequest { .. } => "echo_request",
            Fault::EndlessBody => "endless_body",
        }
    }

    fn is_task_fault(&self) -> bool {
        matches!(self, Fault::TaskFail { .. } | Fault::TaskHang)
    }
}

impl FaultRule {
    /// Returns a rule that applies `fault` to every request.
    pub fn new(fault: Fault) -> Self {
        Self {
            server: None,
            method: None,
            path: None,
            first: None,
            probability: None,
            fault,
        }
    }

    pub fn server(mut self, server: SimServer) -> Self {
        self.server = Some(server);
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn path(mut self, pattern: &str) -> Self {
        self.path = Some(pattern.into());
        self
    }

    pub fn first(mut self, count: u32) -> Self {
        self.first = Some(count);
        self
    }

    pub fn probability(mut self, probability: f64) -> Self {
        self.probability = Some(probability);
        self
    }

    /// Whether the request is one this rule is about (before `first` and `probability`).
    fn matches(&self, server: SimServer, method: &str, path: &str) -> bool {
        if self.server.is_some_and(|wanted| wanted != server) {
            return false;
        }
        let method_matches = match &self.method {
            Some(wanted) => wanted.eq_ignore_ascii_case(method),
            // Only a POST can start an install task.
            None if self.fault.is_task_fault() => method == "POST",
            None => true,
        };
        method_matches
            && self
                .path
                .as_deref()
                .is_none_or(|pattern| path_matches(pattern, path))
    }
}

impl FaultPlan {
    /// Parses and checks a plan written in YAML (see `docs/simulator.md`).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        // An empty file (or only comments) is a plan without faults.
        if text
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        let plan: FaultPlan =
            serde_saphyr::from_str(text).map_err(|error| error.without_snippet().to_string())?;
        plan.validate()?;
        Ok(plan)
    }

    /// Reads a plan from a YAML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fault plan `{}`", path.display()))?;
        Self::from_yaml(&text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("invalid fault plan `{}`", path.display()))
    }

    /// Checks the values serde cannot: every problem, one per line.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let mut problem = |text: String| problems.push(format!("rules[{index}]: {text}"));
            if let Some(method) = &rule.method {
                if method.is_empty() || !method.bytes().all(|byte| byte.is_ascii_alphabetic()) {
                    problem(format!("`method` must be an HTTP method, got `{method}`"));
                } else if rule.fault.is_task_fault() && !method.eq_ignore_ascii_case("POST") {
                    problem(format!(
                        "`{}` applies to the POST that starts an install task, so `method` must be POST or left out, got `{method}`",
                        rule.fault.name()
                    ));
                }
            }
            if rule.path.as_deref() == Some("") {
                problem("`path` must not be empty (leave it out to match every path)".into());
            }
            if rule.first == Some(0) {
                problem("`first` must be at least 1".into());
            }
            if let Some(probability) = rule.probability {
                if !(0.0..=1.0).contains(&probability) {
                    problem(format!(
                        "`probability` must be between 0 and 1, got `{probability}`"
                    ));
                }
            }
            match &rule.fault {
                Fault::Status { status, .. } if !(400..=599).contains(status) => problem(format!(
                    "`status` must be an error status (400 to 599), got `{status}`"
                )),
                Fault::SlowDownload {
                    bytes_per_second: 0,
                } => problem("`bytes_per_second` must be at least 1".into()),
                Fault::EchoRequest { status } if !(400..=599).contains(status) => problem(format!(
                    "`echo_request` `status` must be an error status (400 to 599), got `{status}`"
                )),
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// A plan in force: the rules plus how often each has matched, and how many requests were faulted.
#[derive(Debug)]
pub(crate) struct ActiveFaults {
    plan: FaultPlan,
    seed: u64,
    matched: Vec<u64>,
    hits: u64,
}

impl ActiveFaults {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let seed = plan.seed.unwrap_or_else(|| fastrand::u64(..));
        if !plan.rules.is_empty() {
            tracing::info!(
                seed,
                rules = plan.rules.len(),
                "simulator fault plan in force"
            );
        }
        Self {
            matched: vec![0; plan.rules.len()],
            plan,
            seed,
            hits: 0,
        }
    }

    /// Requests faulted under this plan.
    pub(crate) fn hits(&self) -> u64 {
        self.hits
    }

    /// The fault for a request, if a rule fires; counts the request against every rule tried.
    fn decide(&mut self, server: SimServer, method: &str, path: &str) -> Option<Fault> {
        for (index, rule) in self.plan.rules.iter().enumerate() {
            if !rule.matches(server, method, path) {
                continue;
            }
            let nth = self.matched[index];
            self.matched[index] += 1;
            if rule.first.is_some_and(|first| nth >= u64::from(first)) {
                continue;
            }
            if let Some(probability) = rule.probability {
                if draw(self.seed, index as u64, nth) >= probability {
                    continue;
                }
            }
            self.hits += 1;
            return Some(rule.fault.clone());
        }
        None
    }
}

/// What an install POST must do with the task it starts; put in the request's extensions.
#[derive(Clone, Debug)]
pub(crate) enum TaskFault {
    Fail(String),
    Hang,
}

/// The layer in front of each listener: decides the request's fault, applies it, and records the
/// exchange (status 0 when the answer was dropped).
pub(crate) async fn layer(
    State((shared, server)): State<(Arc<Shared>, SimServer)>,
    mut request: Request,
    next: Next,
) -> Response {
    let received = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    // The injected latency (`SimConfig::latency`) comes first, as the network's round trip would.
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = shared.faults().decide(server, method.as_str(), uri.path());
    if let Some(fault) = &fault {
        tracing::debug!(?server, %method, path = uri.path(), ?fault, "injecting fault");
    }
    let response = match fault {
        None => next.run(request).await,
        Some(Fault::Status {
            status,
            retry_after,
        }) => status_response(status, retry_after),
        Some(Fault::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Some(Fault::Drop) => dropped(),
        Some(Fault::DropAfter) => {
            let lost = next.run(request).await;
            let mut response = dropped();
            if let Some(node) = lost.extensions().get::<Node>() {
                response.extensions_mut().insert(*node);
            }
            response
        }
        Some(Fault::TaskFail { message }) => {
            request.extensions_mut().insert(TaskFault::Fail(message));
            next.run(request).await
        }
        Some(Fault::TaskHang) => {
            request.extensions_mut().insert(TaskFault::Hang);
            next.run(request).await
        }
        Some(Fault::SlowDownload { bytes_per_second }) => {
            throttle(next.run(request).await, bytes_per_second).await
        }
        Some(Fault::EchoRequest { status }) => echo(request, status).await,
        Some(Fault::EndlessBody) => endless(),
    };
    let status = if response.extensions().get::<Dropped>().is_some() {
        0
    } else {
        response.status().as_u16()
    };
    let mut entry = http::recorded(server, &method, &uri, &headers, status);
    entry.node = response.extensions().get::<Node>().map(|node| node.0);
    entry.received = received;
    entry.elapsed = received.elapsed();
    shared.record(entry);
    response
}

/// The answer of a `status` fault: what a load balancer or an overloaded node sends. A 429 carries
/// the headers of Jira/Confluence Data Center rate limiting (upm-rest-api.md §6).
pub(crate) fn status_response(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = http::text(
        status,
        "text/plain;charset=UTF-8",
        &format!("simulated fault: {status}"),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        // guess: the bucket of Jira's default limit (10 tokens a second, at most 100), empty; the
        // interval follows `Retry-After` so the two agree.
        let interval = retry_after.unwrap_or(1).max(1);
        for (name, value) in [
            ("x-ratelimit-limit", 100),
            ("x-ratelimit-remaining", 0),
            ("x-ratelimit-interval-seconds", interval),
            ("x-ratelimit-fillrate", 10),
        ] {
            http::set_named_header(&mut response, name, &value.to_string());
        }
    }
    response
}

/// The answer of an `echo_request` fault: the request's line, headers and body, as text.
async fn echo(request: Request, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (parts, body) = request.into_parts();
    let mut text = format!("simulated echo of {} {}\n", parts.method, parts.uri);
    // The secrets first, so that they are inside any excerpt a client shows.
    let secret = |name: &str| matches!(name, "authorization" | "cookie" | "upm-token");
    let header = |(name, value): (&header::HeaderName, &HeaderValue)| {
        format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()))
    };
    for line in parts
        .headers
        .iter()
        .filter(|(name, _)| secret(name.as_str()))
        .map(header)
    {
        text.push_str(&line);
    }
    // An upload is large; the first MiB is plenty to echo.
    if let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await {
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    for line in parts
        .headers
        .iter()
        .filter(|(name, _)| !secret(name.as_str()))
        .map(header)
    {
        text.push_str(&line);
    }
    http::text(status, "text/plain;charset=UTF-8", &text)
}

/// The answer of an `endless_body` fault: a JSON array that never ends.
fn endless() -> Response {
    let opening = futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"[")) });
    let spaces =
        futures::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![b' '; 64 * 1024])));
    let mut response = Response::new(Body::from_stream(futures::StreamExt::chain(
        opening, spaces,
    )));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Marks a response whose connection is dropped.
#[derive(Clone, Copy, Debug)]
struct Dropped;

/// A response that never reaches the client: its body fails on the first poll, before hyper has
/// written anything, so hyper closes the connection and the client sees it closed without an answer.
fn dropped() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response.extensions_mut().insert(Dropped);
    response
}

/// Re-streams a response body at `bytes_per_second`, in pieces of about a tenth of a second.
async fn throttle(response: Response, bytes_per_second: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return dropped();
    };
    if bytes.is_empty() {
        return Response::from_parts(parts, Body::empty());
    }
    let rate = bytes_per_second.max(1);
    let piece = usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let pieces = futures::stream::unfold((bytes, 0_usize), move |(bytes, offset)| async move {
        if offset >= bytes.len() {
            return None;
        }
        let end = bytes.len().min(offset.saturating_add(piece));
        let chunk = bytes.slice(offset..end);
        tokio::time::sleep(Duration::from_secs_f64(chunk.len() as f64 / rate as f64)).await;
        Some((Ok::<_, Infallible>(chunk), (bytes, end)))
    });
    Response::from_parts(parts, Body::from_stream(pieces))
}

/// Whether `pattern` occurs in `path`: `*` matches any run of characters, a trailing `$` anchors
/// the end.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(rest) => (rest, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let (last, leading) = parts.split_last().unwrap_or((&"", &[]));
    // Leftmost matches of the leading parts leave the most room for the rest.
    let mut position = 0;
    for part in leading {
        match path[position..].find(part) {
            Some(found) => position += found + part.len(),
            None => return false,
        }
    }
    if anchored {
        path.len() >= position + last.len() && path.ends_with(last)
    } else {
        path[position..].contains(last)
    }
}

/// A uniform draw in `[0, 1)` for the `nth` request rule `rule` matched: a pure function of the
/// seed (SplitMix64), so runs repeat whatever the interleaving of other rules' requests.
fn draw(seed: u64, rule: u64, nth: u64) -> f64 {
    fn mix(value: u64) -> u64 {
        let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let bits = mix(mix(mix(seed) ^ rule) ^ nth);
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

// YAML: a fault is a name (`drop`, `drop_after`, `task_hang`) or a one-kind map:
// `{status: 503, retry_after: 2}`, `{latency: {millis: 200}}`, `{task_fail: {message: …}}`,
// `{slow_download: {bytes_per_second: 2048}}`. Hand-written so that `status` can be flat (its
// value is the code) while the error messages still name what was expected.

const FAULT_NAMES: &[&str] = &[
    "status",
    "latency",
    "drop",
    "drop_after",
    "task_fail",
    "task_hang",
    "slow_download",
    "echo_request",
    "endless_body",
];
const FAULT_KEYS: &[&str] = &[
    "status",
    "retry_after",
    "latency",
    "task_fail",
    "slow_download",
    "echo_request",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyFields {
    millis: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFailFields {
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoRequestFields {
    status: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowDownloadFields {
    bytes_per_second: u64,
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FaultVisitor)
    }
}

struct FaultVisitor;

fn example(name: &str) -> &'static str {
    match name {
        "status" => "`{status: 503, retry_after: 2}`",
        "latency" => "`{latency: {millis: 200}}`",
        "task_fail" => "`{task_fail: {message: \"disk full\"}}`",
        "echo_request" => "`{echo_request: {status: 500}}`",
        _ => "`{slow_download: {bytes_per_second: 2048}}`",
    }
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Fault;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(
            "a fault: `drop`, `drop_after`, `task_hang`, or a map such as `{status: 503}`, \
             `{latency: {millis: 200}}`, `{task_fail: {message: …}}`, `{slow_download: {bytes_per_second: 2048}}`",
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Fault, E> {
        match value {
            "drop" => Ok(Fault::Drop),
            "drop_after" => Ok(Fault::DropAfter),
            "task_hang" => Ok(Fault::TaskHang),
            "endless_body" => Ok(Fault::EndlessBody),
            "status" | "latency" | "task_fail" | "slow_download" | "echo_request" => {
                Err(E::custom(format!(
                    "fault `{value}` needs parameters, e.g. {}",
                    example(value)
                )))
            }
            other => Err(E::unknown_variant(other, FAULT_NAMES)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fault, A::Error> {
        let mut status = None;
        let mut retry_after = None;
        let mut kinds = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => status = Some(map.next_value::<u16>()?),
                "retry_after" => retry_after = Some(map.next_value::<u64>()?),
                "latency" => {
                    let fields: LatencyFields = map.next_value()?;
                    kinds.push(Fault::Latency {
                        millis: fields.millis,
                    });
                }
                "task_fail" => {
                    let fields: TaskFailFields = map.next_value()?;
                    kinds.push(Fault::TaskFail {
                        message: fields.message,
                    });
                }
                "slow_download" => {
                    let fields: SlowDownloadFields = map.next_value()?;
                    kinds.push(Fault::SlowDownload {
                        bytes_per_second: fields.bytes_per_second,
                    });
                }
                "echo_request" => {
                    let fields: EchoRequestFields = map.next_value()?;
                    kinds.push(Fault::EchoRequest {
                        status: fields.status,
                    });
                }
                "drop" | "drop_after" | "task_hang" | "endless_body" => {
                    return Err(de::Error::custom(format!(
                        "fault `{key}` takes no parameters: write `fault: {key}`"
                    )))
                }
                other => return Err(de::Error::unknown_field(other, FAULT_KEYS)),
            }
        }
        match (status, kinds.len()) {
            (Some(status), 0) => Ok(Fault::Status {
                status,
                retry_after,
            }),
            (None, 1) if retry_after.is_some() => Err(de::Error::custom(
                "`retry_after` goes with a `status` fault only",
            )),
            (None, 1) => Ok(kinds.remove(0)),
            (None, 0) => Err(de::Error::custom(
                "the fault map names no fault: expected `status`, `latency`, `task_fail` or `slow_download`",
            )),
            _ => Err(de::Error::custom(
                "a fault has exactly one kind: write one rule per fault",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        let collection = "/jira/rest/plugins/1.0/";
        assert!(path_matches("/rest/plugins/1.0/", collection));
        assert!(path_matches(
            "/rest/plugins/1.0/",
            "/jira/rest/plugins/1.0/a-key"
        ));
        assert!(path_matches("/rest/plugins/1.0/$", collection));
        assert!(!path_matches(
            "/rest/plugins/1.0/$",
            "/jira/rest/plugins/1.0/a-key"
        ));
        assert!(path_matches("/download/*", "/download/apps/1/version/2"));
        assert!(path_matches(
            "/apps/*/version/*$",
            "/download/apps/1/version/2"
        ));
        assert!(path_matches("*-key$", "/jira/rest/plugins/1.0/a-key"));
        assert!(!path_matches(
            "*-key$",
            "/jira/rest/plugins/1.0/a-key/license"
        ));
        assert!(path_matches("a*a$", "/aba"));
        assert!(!path_matches("/pending/*", "/jira/rest/plugins/1.0/"));
    }

    #[test]
    fn draws_are_uniform_enough_and_repeatable() {
        let draws: Vec<f64> = (0..1000).map(|nth| draw(42, 0, nth)).collect();
        assert!(draws.iter().all(|value| (0.0..1.0).contains(value)));
        let below = draws.iter().filter(|value| **value < 0.25).count();
        assert!((200..300).contains(&below), "{below}");
        assert_eq!(draw(42, 1, 7), draw(42, 1, 7));
        assert_ne!(draw(42, 1, 7), draw(43, 1, 7));
    }

    #[test]
    fn first_counts_matching_requests_and_task_faults_only_see_posts() {
        let plan = FaultPlan {
            seed: Some(1),
            rules: vec![
                FaultRule::new(Fault::TaskHang).first(1),
                FaultRule::new(Fault::Drop).method("get").first(2),
            ],
        };
        let mut active = ActiveFaults::new(plan);
        let upm = SimServer::Upm;
        assert_eq!(active.decide(upm, "GET", "/x"), Some(Fault::Drop));
        assert_eq!(active.decide(upm, "POST", "/x"), Some(Fault::TaskHang));
        assert_eq!(active.decide(upm, "POST", "/x"), None);
        assert_eq!(active.decide(upm, "GET", "/x"), Some(Fault::Drop));
        assert_eq!(active.decide(upm, "GET", "/x"), None);
        assert_eq!(active.hits(), 3);
    }
}
