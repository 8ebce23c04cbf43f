//! Files the manifest names (license files, `ca_file`, `source.path`) must be regular files, read
//! with a cap while reading, and never block: devices, FIFOs, `/proc` files, directories, symlinks
//! to devices and oversized files are refused by `validate` (with and without `--skip-secrets`),
//! exactly as apply refuses them.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{run_binary, CommandOutput};

/// The kinds of file that are not a usable regular file, each made in `folder`; the path to write
/// in the manifest and a phrase the problem must contain.
fn bad_files(folder: &Path, oversized: u64) -> Vec<(&'static str, PathBuf, &'static str)> {
    let fifo = folder.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let symlink = folder.join("zero-link");
    std::os::unix::fs::symlink("/dev/zero", &symlink).unwrap();
    let directory = folder.join("directory");
    std::fs::create_dir(&directory).unwrap();
    let large = folder.join("large");
    // Sparse: no disk is used, the size is what counts.
    std::fs::File::create(&large)
        .unwrap()
        .set_len(oversized)
        .unwrap();
    vec![
        ("/dev/zero", PathBuf::from("/dev/zero"), "character device"),
        ("a FIFO", fifo, "FIFO"),
        (
            "/proc/self/status",
            PathBuf::from("/proc/self/status"),
            "pseudo-file",
        ),
        ("a directory", directory, "directory"),
        ("a symlink to /dev/zero", symlink, "character device"),
        ("an oversized file", large, "larger than"),
    ]
}

/// Runs the binary in `folder` with the token the manifest names. The harness's watchdog ends a
/// run that hangs (what reading a FIFO or `/dev/zero` did), so the test fails instead of never
/// ending; it asserts nothing about time.
async fn run(folder: &Path, args: &[&str]) -> CommandOutput {
    run_binary(args, folder, &[("PAT", "pat-secret")]).await
}

fn manifest(folder: &Path, instance_extra: &str, app_extra: &str) {
    let text = format!(
        "instances:\n  - name: jira\n    url: https://jira.example.com\n    product: jira\n    auth: {{token_env: PAT}}\n{instance_extra}apps:\n  - key: com.x\n    version: 1.0.0\n{app_extra}"
    );
    std::fs::write(folder.join("apps.yaml"), text).unwrap();
}

/// Checks every bad kind in one field, with and without `--skip-secrets`.
async fn check_field(field: &str, oversized: u64, write: impl Fn(&Path, &str)) {
    let folder = tempfile::tempdir().unwrap();
    for (kind, path, phrase) in bad_files(folder.path(), oversized) {
        let path = path.display().to_string();
        write(folder.path(), &path);
        for skip in [false, true] {
            let mut args = vec!["validate", "-f", "apps.yaml"];
            if skip {
                args.push("--skip-secrets");
            }
            let output = run(folder.path(), &args).await;
            let stderr = &output.stderr;
            assert_eq!(
                output.code, 1,
                "{field} as {kind} (skip secrets: {skip}) was accepted:\n{stderr}"
            );
            assert!(
                stderr.contains(field) && stderr.contains(&path) && stderr.contains(phrase),
                "{field} as {kind} (skip secrets: {skip}): expected `{phrase}` naming `{path}`:\n{stderr}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn license_files_must_be_regular_files_of_license_size() {
    check_field("license file", 64 * 1024 + 1, |folder, path| {
        manifest(folder, "", &format!("    license: {{file: \"{path}\"}}\n"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ca_files_must_be_regular_files_of_bundle_size() {
    check_field("ca_file", 4 * 1024 * 1024 + 1, |folder, path| {
        manifest(folder, &format!("    ca_file: \"{path}\"\n"), "")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_paths_must_be_regular_files_of_artifact_size() {
    check_field(
        "source file",
        upmsync::artifact::MAX_SOURCE_FILE_BYTES + 1,
        |folder, path| manifest(folder, "", &format!("    source: {{path: \"{path}\"}}\n")),
    )
    .await;
}

/// Apply reads artifacts (also those a lock names, which the manifest loader never sees) through
/// the same checks: nothing blocks, nothing is read past the cap.
#[test]
fn verifying_an_artifact_refuses_what_is_not_a_regular_file() {
    use upmsync::model::{AppKey, Version};
    let folder = tempfile::tempdir().unwrap();
    let key = AppKey::new("com.x");
    let version = Version::from_server("1.0.0");
    for (kind, path, phrase) in
        bad_files(folder.path(), upmsync::artifact::MAX_SOURCE_FILE_BYTES + 1)
    {
        let error = upmsync::artifact::verify_file(&path, &key, &version, None).unwrap_err();
        let text = upmsync::error::error_text(&error);
        assert!(text.contains(phrase), "{kind}: {text}");
    }
}

/// A regular file reached through a symlink (how Kubernetes mounts secrets) is still fine.
#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_to_a_regular_license_file_is_accepted() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("real.txt"), "LICENSE\n").unwrap();
    std::os::unix::fs::symlink("real.txt", folder.path().join("license.txt")).unwrap();
    manifest(folder.path(), "", "    license: {file: license.txt}\n");
    let output = run(folder.path(), &["validate", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
}
