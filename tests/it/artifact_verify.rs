//! Verifying local artifacts before anything changes: key, version and sha256 of jars and OBRs
//! (issue 3 "Artifacts", marketplace-api.md §13).

use std::path::{Path, PathBuf};

use upmsync::artifact::{verify_file, ArtifactError};
use upmsync::model::{AppKey, Sha256, Version};
use upmsync_sim::jar::{build_obr, build_plugin_jar};

const KEY: &str = "com.example.verify";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn key() -> AppKey {
    AppKey::new(KEY)
}

fn version(text: &str) -> Version {
    Version::parse(text).unwrap()
}

#[test]
fn a_good_jar_verifies_with_and_without_a_pinned_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = build_plugin_jar(KEY, "Verify", "1.2.0", true);
    let path = write(dir.path(), "verify.jar", &bytes);

    let verified = verify_file(&path, &key(), &version("1.2.0"), None).unwrap();
    assert_eq!(verified.path, path);
    assert_eq!(verified.sha256, Sha256::of(&bytes));
    assert_eq!(verified.descriptor.key, KEY);
    assert!(verified.descriptor.uses_licensing);

    // Plugin-framework equality: `1.2` is `1.2.0`.
    let pinned = Sha256::of(&bytes);
    let verified = verify_file(&path, &key(), &version("1.2"), Some(&pinned)).unwrap();
    assert_eq!(verified.descriptor.version, "1.2.0");
}

#[test]
fn an_obr_is_verified_through_its_main_jar() {
    let dir = tempfile::tempdir().unwrap();
    let main = build_plugin_jar(KEY, "Verify", "3.0.0", false);
    let dependency = build_plugin_jar("com.example.dependency", "Dep", "9.9.9", false);
    let bytes = build_obr(&main, &[("dependency.jar", &dependency)]);
    let path = write(dir.path(), "verify.obr", &bytes);

    let verified = verify_file(&path, &key(), &version("3.0.0"), None).unwrap();
    assert_eq!(verified.descriptor.key, KEY);
    // The hash is of the OBR file itself, not of its main jar.
    assert_eq!(verified.sha256, Sha256::of(&bytes));

    let error = verify_file(&path, &key(), &version("9.9.9"), None).unwrap_err();
    assert!(
        matches!(error, ArtifactError::VersionMismatch { .. }),
        "{error}"
    );
}

#[test]
fn a_corrupt_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "broken.jar",
        b"<html><body>This is not a plugin artifact.</body></html>\n",
    );
    let error = verify_file(&path, &key(), &version("1.0"), None).unwrap_err();
    assert!(
        matches!(&error, ArtifactError::NotZip { path: Some(named), .. } if *named == path),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{}`", path.display())),
        "{message}"
    );
    assert!(message.contains("not a zip file"), "{message}");

    let missing = dir.path().join("missing.jar");
    let error = verify_file(&missing, &key(), &version("1.0"), None).unwrap_err();
    assert!(matches!(error, ArtifactError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("missing.jar"));
}

#[test]
fn a_wrong_key_names_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "other.jar",
        &build_plugin_jar("com.example.other", "Other", "1.0.0", false),
    );
    let error = verify_file(&path, &key(), &version("1.0.0"), None).unwrap_err();
    match &error {
        ArtifactError::KeyMismatch {
            path: named,
            expected,
            found,
        } => {
            assert_eq!(named, &path);
            assert_eq!(expected, &key());
            assert_eq!(found, "com.example.other");
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("`com.example.other`"), "{message}");
    assert!(message.contains(&format!("expected `{KEY}`")), "{message}");
    assert!(message.contains("other.jar"), "{message}");
}

#[test]
fn a_wrong_version_names_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "verify.jar",
        &build_plugin_jar(KEY, "Verify", "1.0.1", false),
    );
    let error = verify_file(&path, &key(), &version("1.0"), None).unwrap_err();
    assert!(
        matches!(&error, ArtifactError::VersionMismatch { found, .. } if found == "1.0.1"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("version `1.0.1`") && message.contains("expected `1.0`"),
        "{message}"
    );
}

#[test]
fn a_wrong_sha256_is_refused_before_the_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = build_plugin_jar(KEY, "Verify", "1.0.0", false);
    let path = write(dir.path(), "verify.jar", &bytes);
    let pinned = Sha256::of(b"something else");
    let error = verify_file(&path, &key(), &version("1.0.0"), Some(&pinned)).unwrap_err();
    match &error {
        ArtifactError::Sha256Mismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, &pinned);
            assert_eq!(found, &Sha256::of(&bytes));
        }
        other => panic!("expected a sha256 mismatch, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(pinned.as_str()) && message.contains(Sha256::of(&bytes).as_str()),
        "{message}"
    );

    // A corrupt file that is not the pinned one reports the hash, the more useful fact.
    let corrupt = write(dir.path(), "corrupt.jar", b"garbage");
    let error = verify_file(&corrupt, &key(), &version("1.0.0"), Some(&pinned)).unwrap_err();
    assert!(
        matches!(error, ArtifactError::Sha256Mismatch { .. }),
        "{error:?}"
    );
}
