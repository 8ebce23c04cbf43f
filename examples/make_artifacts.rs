//! Writes the jar that `apps.yaml.example` uploads (`examples/artifacts/inhouse-2.0.0.jar`), built
//! by the simulator's jar builder: a real plugin jar with an `atlassian-plugin.xml`.
//!
//! Run: `cargo run --example make_artifacts`. The bytes are stable, so the committed file only
//! changes when the builder does (a test checks they match).
#![expect(
    clippy::print_stderr,
    reason = "a developer tool, not upmsync: it says what it wrote"
)]

use std::path::Path;

fn main() -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/artifacts/inhouse-2.0.0.jar");
    let bytes =
        upmsync_sim::jar::build_plugin_jar("com.example.inhouse", "In-house Tools", "2.0.0", false);
    std::fs::write(&path, bytes)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
