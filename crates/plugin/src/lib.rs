//! upmsync-plugin: facts of the Atlassian plugin framework that both upmsync and its simulator need,
//! with no network and no upmsync types.
//!
//! - [`version`]: plugin version ordering and validation, as `VersionStringComparator` does it.
//! - [`descriptor`]: what a plugin jar or OBR says about itself (`atlassian-plugin.xml`, OSGi headers).
//!
//! `upmsync` re-exports both (`upmsync::version`, `upmsync::artifact`), so callers keep their paths.

pub mod descriptor;
pub mod version;
