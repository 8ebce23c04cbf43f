//! upmsync: a declarative desired-state reconciler for Atlassian Data Center apps.
//!
//! The pipeline, in the order data flows through it:
//!
//! - [`cli`]: clap types; the `--help` text of every command.
//! - [`manifest`]: reads `apps.yaml` and validates it into a [`model::Desired`], every problem at once.
//! - [`model`]: plain data (`Desired`, `Live`, `Version`, `Secret`, ...), no IO.
//! - [`version`]: plugin version ordering, as the Atlassian plugin framework does it.
//! - [`http`]: the one place HTTP clients are built (settings, TLS roots, proxy, redirects), retried
//!   reads, bounded bodies and their excerpts.
//! - [`upm`]: the only code that speaks UPM's REST API: reads live state, installs, licenses.
//! - [`marketplace`]: the only code that speaks the Atlassian Marketplace API: versions, downloads,
//!   and publishing a version (`upmsync publish`).
//! - [`lock`]: the lock file, `apps.lock`: exact versions and artifacts, pinned by sha256.
//! - [`resolve`]: gathers facts, concurrently: the release each wanted version means (lock, source or Marketplace), and the installed version's release where a downgrade may need it; decides nothing.
//! - [`artifact`]: reads and verifies plugin jars and OBRs (key, version, sha256).
//! - [`retry`]: when to try a read again: bounded backoff with jitter, honouring `Retry-After`.
//! - [`plan`]: `plan(&desired, &live, &facts) -> InstancePlan`, pure and deterministic: decides target versions, compatibility, whether a lock entry may be used, delivery and restore, then one typed [`plan::Op`] per change.
//! - [`scrub`]: every secret of the run, in every form a server may echo, replaced before output.
//! - [`saved`]: saved plans (`plan --out`, `apply FILE`) and the fingerprints that keep them honest.
//! - [`execute`]: carries out a plan on one instance, one change at a time, as the plan says (it never reads the manifest), and reports.
//! - [`instance_lock`]: the OS file lock per instance that keeps two applies apart.
//! - [`ops`]: the core commands stand on: reads, resolves and plans, returns values and errors, never prints.
//! - [`metrics`]: a drift check as Prometheus metrics (`drift --metrics-file`, `serve`), and the metrics file's atomic write.
//! - [`render`]: plans and reports to text (with `similar`), JSON or Markdown, pure functions to `String`.
//! - [`error`]: the one walk over an error's causes, its hints, and the text a user reads.
//! - [`files`]: files the manifest names (read as regular files, capped) and files written (atomic, owner-only).
//! - [`printable`]: what files may hold (no NUL, control or bidi characters) and how server text is escaped.
//! - [`notice`]: warnings a user must read (retries, lost answers, ...) as values, handed to an observer as they happen.
//! - [`printer`]: the one place that writes to stdout and stderr: data, status, warnings, errors; `--quiet`.
//! - [`commands`]: one module per subcommand: load -> ops -> render -> print.
//!
//! The plugin framework's own rules (version ordering, plugin descriptors) live in the `upmsync-plugin`
//! crate and the simulator in `upmsync-sim` (both under `crates/`); `upmsync sim` and `upmsync demo`
//! need the default `sim` feature.

pub mod artifact;
pub mod cli;
pub mod commands;
pub mod error;
pub mod execute;
pub mod files;
pub mod http;
pub mod instance_lock;
pub mod interrupt;
pub mod lock;
pub mod manifest;
pub mod marketplace;
pub mod metrics;
pub mod model;
pub mod notice;
pub mod ops;
pub mod plan;
pub mod printable;
pub mod printer;
pub mod render;
pub mod resolve;
pub mod retry;
pub mod saved;
pub mod scrub;
pub mod upm;
pub mod version;
