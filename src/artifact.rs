//! Plugin artifacts on disk or in memory: reads the descriptor of a jar or OBR and verifies a file
//! against the wanted key, version and sha256 before anything changes (marketplace-api.md §13).
//!
//! No HTTP here: downloading is [`crate::marketplace::download`]'s job. Files are read through
//! `Read + Seek`, so a jar on disk is never loaded whole; only the main jar nested in an OBR is read
//! into memory, up to [`MAX_NESTED_JAR_BYTES`].

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use sha2::{Digest, Sha256 as Sha256Hasher};
use zip::ZipArchive;

use crate::model::{AppKey, Sha256, Version};

/// The largest `atlassian-plugin.xml` or `MANIFEST.MF` read from an artifact, against zip bombs.
pub const MAX_DESCRIPTOR_BYTES: u64 = 16 * 1024 * 1024;

/// The largest main jar read (into memory) from an OBR.
pub const MAX_NESTED_JAR_BYTES: u64 = 256 * 1024 * 1024;

/// The largest local artifact (`source.path`) read, as large as a download may be.
pub const MAX_SOURCE_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What a plugin artifact says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDescriptor {
    pub key: String,
    pub name: String,
    pub version: String,
    pub uses_licensing: bool,
}

/// A local artifact that matched what was wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub descriptor: PluginDescriptor,
}

/// Why an artifact could not be read or is not the one wanted. `path` is `None` when the artifact
/// was read from memory or a reader without a name.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a plugin jar or OBR (not a zip file): {reason}", shown(.path))]
    NotZip {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("{} has neither an atlassian-plugin.xml nor a Bundle-SymbolicName", shown(.path))]
    NoDescriptor { path: Option<PathBuf> },
    #[error("the plugin descriptor of {} is invalid: {reason}", shown(.path))]
    InvalidDescriptor {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("{} is an OBR but has {found} jar files at its root, expected exactly one main plugin jar", shown(.path))]
    ObrMainJar { path: Option<PathBuf>, found: usize },
    #[error("`{}` is the plugin `{found}`, expected `{expected}`", path.display())]
    KeyMismatch {
        path: PathBuf,
        expected: AppKey,
        found: String,
    },
    #[error("`{}` is version `{found}` of the plugin, expected `{expected}`", path.display())]
    VersionMismatch {
        path: PathBuf,
        expected: Version,
        found: String,
    },
    #[error("`{}` has sha256 `{found}`, expected `{expected}`", path.display())]
    Sha256Mismatch {
        path: PathBuf,
        expected: Sha256,
        found: Sha256,
    },
}

impl ArtifactError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ArtifactError::KeyMismatch { .. } => "the file or URL points at another app".into(),
            ArtifactError::VersionMismatch { .. } => {
                "the file or URL points at another version".into()
            }
            ArtifactError::Sha256Mismatch { .. } => "the artifact changed or the pinned sha256 is wrong; check the source before changing `sha256:`".into(),
            _ => return None,
        })
    }

    /// Names the file in a reading error that was raised without one.
    fn at(self, file: &Path) -> Self {
        let named = Some(file.to_path_buf());
        match self {
            ArtifactError::NotZip { path: None, reason } => ArtifactError::NotZip {
                path: named,
                reason,
            },
            ArtifactError::NoDescriptor { path: None } => {
                ArtifactError::NoDescriptor { path: named }
            }
            ArtifactError::InvalidDescriptor { path: None, reason } => {
                ArtifactError::InvalidDescriptor {
                    path: named,
                    reason,
                }
            }
            ArtifactError::ObrMainJar { path: None, found } => {
                ArtifactError::ObrMainJar { path: named, found }
            }
            other => other,
        }
    }
}

fn shown(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("`{}`", path.display()),
        None => "the artifact".to_string(),
    }
}

fn not_zip(reason: impl ToString) -> ArtifactError {
    ArtifactError::NotZip {
        path: None,
        reason: reason.to_string(),
    }
}

fn invalid(reason: impl ToString) -> ArtifactError {
    ArtifactError::InvalidDescriptor {
        path: None,
        reason: reason.to_string(),
    }
}

/// Opens a local artifact (jar, or OBR → its main jar), hashes it (streaming), and checks that key
/// and version (plugin-framework equality via [`Version`]) match, and the sha256 when one is expected.
///
/// The sha256 is checked first: a file that is not the pinned one is not opened as a zip at all.
pub fn verify_file(
    path: &Path,
    key: &AppKey,
    version: &Version,
    sha256: Option<&Sha256>,
) -> Result<Verified, ArtifactError> {
    let io_error = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (mut file, found) = hash_file(path).map_err(|error| io_error(error.into()))?;
    if let Some(expected) = sha256 {
        if *expected != found {
            return Err(ArtifactError::Sha256Mismatch {
                path: path.to_path_buf(),
                expected: expected.clone(),
                found,
            });
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let descriptor = read_descriptor_from(BufReader::new(file)).map_err(|error| error.at(path))?;
    if descriptor.key != key.as_str() {
        return Err(ArtifactError::KeyMismatch {
            path: path.to_path_buf(),
            expected: key.clone(),
            found: descriptor.key,
        });
    }
    if Version::from_server(&descriptor.version) != *version {
        return Err(ArtifactError::VersionMismatch {
            path: path.to_path_buf(),
            expected: version.clone(),
            found: descriptor.version,
        });
    }
    Ok(Verified {
        path: path.to_path_buf(),
        sha256: found,
        descriptor,
    })
}

/// Opens a local artifact as a regular file (never a device, FIFO or `/proc` file; never
/// blocking) and hashes it, at most [`MAX_SOURCE_FILE_BYTES`]. The manifest loader checks
/// `source.path` files through this same function, so `validate` refuses what apply would.
pub fn hash_file(path: &Path) -> Result<(File, Sha256), crate::files::FileError> {
    let mut file = crate::files::open_regular(path)?;
    let mut hasher = Sha256Hasher::new();
    crate::files::read_streaming(&mut file, MAX_SOURCE_FILE_BYTES, |chunk| {
        hasher.update(chunk)
    })?;
    Ok((file, Sha256::from_digest(&hasher.finalize())))
}

/// The sha256 of everything a reader yields, read in chunks.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<Sha256> {
    let mut hasher = Sha256Hasher::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(Sha256::from_digest(&hasher.finalize()))
}

/// Whether a zip is an OBR (has `obr.xml` at its root); `false` for anything that is not a zip.
pub fn is_obr<R: Read + Seek>(reader: R) -> bool {
    ZipArchive::new(reader).is_ok_and(|archive| has_entry(&archive, "obr.xml"))
}

/// Reads key, name, version and licensing from a plugin jar in memory, or from the main jar of an OBR.
pub fn read_descriptor(bytes: &[u8]) -> Result<PluginDescriptor, ArtifactError> {
    read_descriptor_from(Cursor::new(bytes))
}

/// Reads key, name, version and licensing from a plugin jar, or from the main jar of an OBR.
///
/// Like UPM's `JarHelper` (marketplace-api.md §13): the key comes from `atlassian-plugin.xml`,
/// else from the manifest (`Atlassian-Plugin-Key`, then `Bundle-SymbolicName`). An OBR is a zip
/// with `obr.xml` whose only root `*.jar` is the main plugin.
pub fn read_descriptor_from<R: Read + Seek>(reader: R) -> Result<PluginDescriptor, ArtifactError> {
    let mut archive = ZipArchive::new(reader).map_err(not_zip)?;
    if has_entry(&archive, "obr.xml") {
        let main_jars: Vec<String> = archive
            .file_names()
            .filter(|name| !name.contains('/') && name.to_ascii_lowercase().ends_with(".jar"))
            .map(str::to_string)
            .collect();
        let [main_jar] = main_jars.as_slice() else {
            return Err(ArtifactError::ObrMainJar {
                path: None,
                found: main_jars.len(),
            });
        };
        let inner = read_entry(&mut archive, main_jar, MAX_NESTED_JAR_BYTES)?.ok_or(
            ArtifactError::ObrMainJar {
                path: None,
                found: 0,
            },
        )?;
        // An OBR inside an OBR is not a thing: read the inner jar as a plain jar.
        let mut inner = ZipArchive::new(Cursor::new(inner))
            .map_err(|error| not_zip(format!("main jar `{main_jar}`: {error}")))?;
        return read_jar(&mut inner);
    }
    read_jar(&mut archive)
}

fn read_jar<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
) -> Result<PluginDescriptor, ArtifactError> {
    let manifest = read_entry(archive, "META-INF/MANIFEST.MF", MAX_DESCRIPTOR_BYTES)?
        .map(|bytes| parse_manifest(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let header = |name: &str| {
        manifest
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    match read_entry(archive, "atlassian-plugin.xml", MAX_DESCRIPTOR_BYTES)? {
        Some(xml) => {
            let mut descriptor = parse_plugin_xml(&xml)?;
            if descriptor.key.is_empty() {
                descriptor.key = header("Atlassian-Plugin-Key")
                    .or_else(|| header("Bundle-SymbolicName").map(|name| strip_directives(&name)))
                    .ok_or_else(|| invalid("the plugin key is missing"))?;
            }
            if descriptor.version.is_empty() {
                descriptor.version = header("Bundle-Version").unwrap_or_default();
            }
            if descriptor.name.is_empty() {
                descriptor.name = descriptor.key.clone();
            }
            Ok(descriptor)
        }
        None => {
            let symbolic_name =
                header("Bundle-SymbolicName").ok_or(ArtifactError::NoDescriptor { path: None })?;
            let key =
                header("Atlassian-Plugin-Key").unwrap_or_else(|| strip_directives(&symbolic_name));
            Ok(PluginDescriptor {
                name: header("Bundle-Name").unwrap_or_else(|| key.clone()),
                version: header("Bundle-Version").unwrap_or_else(|| "0.0.0".into()),
                key,
                uses_licensing: false,
            })
        }
    }
}

fn has_entry<R: Read + Seek>(archive: &ZipArchive<R>, name: &str) -> bool {
    archive.file_names().any(|entry| entry == name)
}

/// Reads one entry whole; an entry larger than `limit` is an error rather than silently cut.
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ArtifactError> {
    if !has_entry(archive, name) {
        return Ok(None);
    }
    let file = archive
        .by_name(name)
        .map_err(|error| not_zip(format!("cannot open `{name}`: {error}")))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| not_zip(format!("cannot read `{name}`: {error}")))?;
    if bytes.len() as u64 > limit {
        return Err(not_zip(format!(
            "`{name}` is larger than {} MiB when unpacked",
            limit / (1024 * 1024)
        )));
    }
    Ok(Some(bytes))
}

/// `Bundle-SymbolicName: com.example;singleton:=true` → `com.example`.
fn strip_directives(value: &str) -> String {
    value.split(';').next().unwrap_or(value).trim().to_string()
}

fn parse_plugin_xml(bytes: &[u8]) -> Result<PluginDescriptor, ArtifactError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);

    let mut descriptor = PluginDescriptor {
        key: String::new(),
        name: String::new(),
        version: String::new(),
        uses_licensing: false,
    };
    let mut saw_root = false;
    // Element names from the root down to the current element.
    let mut path: Vec<String> = Vec::new();
    let mut current_param: Option<String> = None;
    loop {
        match reader.read_event().map_err(invalid)? {
            Event::Start(element) => {
                let name = element_name(&element);
                if path.is_empty() {
                    saw_root = read_root(&element, &mut descriptor)?;
                }
                if path.len() == 2 && name == "param" && path[1] == "plugin-info" {
                    current_param = attribute(&element, "name")?;
                }
                path.push(name);
            }
            Event::Empty(element) if path.is_empty() => {
                saw_root = read_root(&element, &mut descriptor)?;
            }
            Event::End(_) => {
                path.pop();
                if path.len() < 3 {
                    current_param = None;
                }
            }
            Event::Text(text) => {
                let value = text.unescape().map_err(invalid)?;
                read_text(
                    &path,
                    current_param.as_deref(),
                    value.trim(),
                    &mut descriptor,
                );
            }
            Event::CData(data) => {
                let value = String::from_utf8_lossy(&data).to_string();
                read_text(
                    &path,
                    current_param.as_deref(),
                    value.trim(),
                    &mut descriptor,
                );
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(invalid("the root element is not <atlassian-plugin>"));
    }
    Ok(descriptor)
}

/// Reads the `<atlassian-plugin>` attributes; `false` if the root is something else.
fn read_root(
    element: &BytesStart<'_>,
    descriptor: &mut PluginDescriptor,
) -> Result<bool, ArtifactError> {
    if element_name(element) != "atlassian-plugin" {
        return Ok(false);
    }
    descriptor.key = attribute(element, "key")?
        .unwrap_or_default()
        .trim()
        .to_string();
    descriptor.name = attribute(element, "name")?
        .unwrap_or_default()
        .trim()
        .to_string();
    // UPM accepts plugins-version 1, 2 or 3 (marketplace-api.md §13).
    if let Some(plugins_version) = attribute(element, "plugins-version")? {
        if !matches!(plugins_version.trim(), "1" | "2" | "3") {
            return Err(invalid(format!(
                "unsupported plugins-version `{plugins_version}`"
            )));
        }
    }
    Ok(true)
}

fn read_text(path: &[String], param: Option<&str>, value: &str, descriptor: &mut PluginDescriptor) {
    let under_info = path.len() == 3 && path[1] == "plugin-info";
    if under_info && path[2] == "version" {
        descriptor.version = value.to_string();
    }
    if under_info && path[2] == "param" && param == Some("atlassian-licensing-enabled") {
        descriptor.uses_licensing = value.eq_ignore_ascii_case("true");
    }
}

fn element_name(element: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(element.local_name().as_ref()).to_string()
}

fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, ArtifactError> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(invalid)?;
        if attribute.key.local_name().as_ref() == name.as_bytes() {
            let value = attribute.unescape_value().map_err(invalid)?;
            return Ok(Some(value.to_string()));
        }
    }
    Ok(None)
}

/// Parses `Name: value` headers, joining continuation lines (which start with one space).
pub(crate) fn parse_manifest(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(continuation) = line.strip_prefix(' ') {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(continuation);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;
    use crate::sim::jar::{build_obr, build_plugin_jar};

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn jar_and_obr_are_read() {
        let jar = build_plugin_jar("com.example.a", "A & B", "1.2.3", true);
        assert_eq!(
            read_descriptor(&jar).unwrap(),
            PluginDescriptor {
                key: "com.example.a".into(),
                name: "A & B".into(),
                version: "1.2.3".into(),
                uses_licensing: true,
            }
        );
        let dependency = build_plugin_jar("com.example.dep", "Dep", "1.0", false);
        let obr = build_obr(&jar, &[("dep.jar", &dependency)]);
        assert_eq!(read_descriptor(&obr).unwrap().key, "com.example.a");
        assert!(is_obr(Cursor::new(&obr)));
        assert!(!is_obr(Cursor::new(&jar)));
        assert!(!is_obr(Cursor::new(b"nope")));
    }

    #[test]
    fn descriptor_tolerates_attribute_order_comments_and_whitespace() {
        let xml = br#"<?xml version="1.0"?>
            <!-- a comment -->
            <atlassian-plugin plugins-version="2" name="Name" key="the.key">
              <plugin-info>
                <!-- version below -->
                <version>
                   3.0.1
                </version>
                <param name="other">x</param>
                <param   name="atlassian-licensing-enabled" >TRUE</param>
              </plugin-info>
              <component key="version"><version>9.9</version></component>
            </atlassian-plugin>"#;
        let descriptor = read_descriptor(&zip(&[("atlassian-plugin.xml", xml)])).unwrap();
        assert_eq!(descriptor.key, "the.key");
        assert_eq!(descriptor.version, "3.0.1");
        assert!(descriptor.uses_licensing);
    }

    #[test]
    fn manifest_only_bundle_and_errors() {
        let manifest =
            b"Bundle-SymbolicName: com.example.bundle;singleton:=true\r\nBundle-Version: 4.5\r\n";
        let descriptor = read_descriptor(&zip(&[("META-INF/MANIFEST.MF", manifest)])).unwrap();
        assert_eq!(
            (descriptor.key.as_str(), descriptor.version.as_str()),
            ("com.example.bundle", "4.5")
        );

        let error = read_descriptor(b"not a zip").unwrap_err();
        assert!(matches!(error, ArtifactError::NotZip { path: None, .. }));
        assert!(error.to_string().starts_with("the artifact is not"));
        assert!(matches!(
            read_descriptor(&zip(&[("readme.txt", b"hello")])),
            Err(ArtifactError::NoDescriptor { .. })
        ));
        let broken = zip(&[(
            "atlassian-plugin.xml",
            b"<atlassian-plugin key=\"k\"><plugin-info></atlassian-plugin>",
        )]);
        assert!(matches!(
            read_descriptor(&broken),
            Err(ArtifactError::InvalidDescriptor { .. })
        ));
        let two_mains = zip(&[
            ("obr.xml", b"<repository/>"),
            ("a.jar", b""),
            ("b.jar", b""),
        ]);
        assert!(matches!(
            read_descriptor(&two_mains),
            Err(ArtifactError::ObrMainJar { found: 2, .. })
        ));
    }
}
