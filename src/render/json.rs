//! The JSON forms of plan and drift: `{"format_version": 1, "instances": [...]}`, a contract that
//! monitoring and CI tooling parse.

use serde::Serialize;
use url::Url;

use crate::model::{redact_url, ProductInfo};
use crate::plan::{ArtifactSlot, Blocker, Change, PendingRestart, Plan, UnmanagedApp};

#[derive(Serialize)]
#[serde(bound = "")]
struct Document<'a, A: ArtifactSlot> {
    format_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<bool>,
    instances: Vec<Instance<'a, A>>,
}

#[derive(Serialize)]
#[serde(bound = "")]
struct Instance<'a, A: ArtifactSlot> {
    name: &'a str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<&'a ProductInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sync: Option<bool>,
    changes: &'a [Change<A>],
    unmanaged: &'a [UnmanagedApp],
    #[serde(skip_serializing_if = "<[PendingRestart]>::is_empty")]
    pending_restart: &'a [PendingRestart],
    #[serde(skip_serializing_if = "<[Blocker]>::is_empty")]
    blocked_by: &'a [Blocker],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `upmsync plan --format json`.
pub fn plan_json(plan: &Plan) -> String {
    document(plan, false)
}

/// `upmsync drift --format json`: the plan's shape plus `drift` and per-instance `in_sync`.
pub fn drift_json(plan: &crate::plan::Drift) -> String {
    document(plan, true)
}

/// What an instance shows: its changes, unmanaged apps, changes waiting for a restart, what
/// blocks apply, and its error.
type Parts<'a, A> = (
    &'a [Change<A>],
    &'a [UnmanagedApp],
    &'a [PendingRestart],
    &'a [Blocker],
    Option<String>,
);

fn document<A: ArtifactSlot>(plan: &Plan<A>, drift: bool) -> String {
    let instances = plan
        .instances
        .iter()
        .map(|instance| {
            let (changes, unmanaged, pending_restart, blocked_by, error): Parts<'_, A> =
                match &instance.result {
                    Ok(planned) => (
                        &planned.changes,
                        &planned.unmanaged,
                        &planned.pending_restart,
                        &planned.blocked_by,
                        None,
                    ),
                    Err(error) => (&[], &[], &[], &[], Some(crate::error::error_text(&**error))),
                };
            Instance {
                name: &instance.name,
                url: shown_url(&instance.url),
                product: instance
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|planned| planned.product.as_ref()),
                in_sync: drift.then(|| {
                    instance
                        .result
                        .as_ref()
                        .is_ok_and(|planned| planned.in_sync())
                }),
                changes,
                unmanaged,
                pending_restart,
                blocked_by,
                error,
            }
        })
        .collect();
    let document = Document {
        format_version: 1,
        drift: drift.then(|| plan.has_drift()),
        instances,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"));
    text.push('\n');
    // serde escapes control characters but writes bidi and other format controls raw: escape them
    // too, so the JSON is the same value and safe on a terminal.
    crate::printable::escape_json(&text).into_owned()
}

fn shown_url(url: &Url) -> String {
    redact_url(url)
}
