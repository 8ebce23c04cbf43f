//! Plugin artifacts: builds byte-stable plugin jars and OBRs, and reads the descriptor of either.
//!
//! Layout follows marketplace-api.md §13: `atlassian-plugin.xml` at the jar root, OSGi headers in
//! `META-INF/MANIFEST.MF`; an OBR is a zip with `obr.xml` and exactly one main jar at its root.

use std::io::{Cursor, Read, Write};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The largest descriptor or nested jar read from an artifact, against zip bombs.
const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// What a plugin artifact says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDescriptor {
    pub key: String,
    pub name: String,
    pub version: String,
    pub uses_licensing: bool,
}

/// Why an artifact could not be read as a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JarError {
    #[error("the artifact is not a zip file: {0}")]
    NotZip(String),
    #[error("the artifact has neither an atlassian-plugin.xml nor a Bundle-SymbolicName")]
    NoDescriptor,
    #[error("the plugin descriptor is invalid: {0}")]
    InvalidDescriptor(String),
    #[error("an OBR must contain exactly one main plugin jar at its root, found {0}")]
    ObrMainJar(usize),
}

/// Builds a plugin jar whose descriptor carries `key`, `name`, `version` and, when `uses_licensing`,
/// `atlassian-licensing-enabled`. The bytes depend only on the inputs (fixed zip timestamps).
pub fn build_plugin_jar(key: &str, name: &str, version: &str, uses_licensing: bool) -> Vec<u8> {
    let licensing = if uses_licensing {
        "\n    <param name=\"atlassian-licensing-enabled\">true</param>"
    } else {
        ""
    };
    let descriptor = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <atlassian-plugin key=\"{key}\" name=\"{name}\" plugins-version=\"2\">\n  \
         <plugin-info>\n    \
         <description>{name} (built by the upmsync simulator)</description>\n    \
         <version>{version}</version>\n    \
         <vendor name=\"upmsync simulator\" url=\"https://example.invalid/upmsync\"/>{licensing}\n    \
         <param name=\"atlassian-data-center-status\">compatible</param>\n    \
         <param name=\"atlassian-data-center-compatible\">true</param>\n  \
         </plugin-info>\n\
         </atlassian-plugin>\n",
        key = escape_xml(key),
        name = escape_xml(name),
        version = escape_xml(version),
    );
    let manifest = manifest_text(&[
        ("Manifest-Version", "1.0"),
        ("Bundle-ManifestVersion", "2"),
        ("Bundle-SymbolicName", key),
        ("Bundle-Version", version),
        ("Bundle-Name", name),
        ("Atlassian-Plugin-Key", key),
        ("Created-By", "upmsync simulator"),
    ]);
    write_zip(&[
        ("META-INF/MANIFEST.MF", manifest.as_bytes()),
        ("atlassian-plugin.xml", descriptor.as_bytes()),
    ])
}

/// Builds an OBR around `main_jar`: `obr.xml` plus the main jar at the root and each dependency
/// (file name, bytes) under `dependencies/`. Byte-stable like [`build_plugin_jar`].
pub fn build_obr(main_jar: &[u8], dependencies: &[(&str, &[u8])]) -> Vec<u8> {
    // guess: the main jar is named after its key and version, as AMPS names OBR contents.
    let (symbolic_name, version) = match read_descriptor(main_jar) {
        Ok(descriptor) => (descriptor.key, descriptor.version),
        Err(_) => ("plugin".to_string(), "0".to_string()),
    };
    let main_name = format!("{symbolic_name}-{version}.jar");
    let mut resources = format!(
        "  <resource id=\"{id}/{version}\" symbolicname=\"{id}\" version=\"{version}\" uri=\"{uri}\"/>\n",
        id = escape_xml(&symbolic_name),
        version = escape_xml(&version),
        uri = escape_xml(&main_name),
    );
    for (name, _) in dependencies {
        resources.push_str(&format!(
            "  <resource id=\"{name}\" uri=\"dependencies/{name}\"/>\n",
            name = escape_xml(name)
        ));
    }
    let obr_xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repository lastmodified=\"0\">\n{resources}</repository>\n"
    );
    let dependency_paths: Vec<String> = dependencies
        .iter()
        .map(|(name, _)| format!("dependencies/{name}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("obr.xml", obr_xml.as_bytes()),
        (main_name.as_str(), main_jar),
    ];
    for (path, (_, bytes)) in dependency_paths.iter().zip(dependencies) {
        entries.push((path.as_str(), bytes));
    }
    write_zip(&entries)
}

/// Reads key, name, version and licensing from a plugin jar, or from the main jar of an OBR.
///
/// Like UPM's `JarHelper` (marketplace-api.md §13): the key comes from `atlassian-plugin.xml`,
/// else from the manifest (`Atlassian-Plugin-Key`, then `Bundle-SymbolicName`).
pub fn read_descriptor(bytes: &[u8]) -> Result<PluginDescriptor, JarError> {
    let mut archive = open(bytes)?;
    if has_entry(&archive, "obr.xml") {
        let main_jars: Vec<String> = archive
            .file_names()
            .filter(|name| !name.contains('/') && name.to_ascii_lowercase().ends_with(".jar"))
            .map(str::to_string)
            .collect();
        let [main_jar] = main_jars.as_slice() else {
            return Err(JarError::ObrMainJar(main_jars.len()));
        };
        let inner = read_entry(&mut archive, main_jar)?.ok_or(JarError::ObrMainJar(0))?;
        // An OBR inside an OBR is not a thing: read the inner jar as a plain jar.
        return read_jar(&mut open(&inner)?);
    }
    read_jar(&mut archive)
}

fn read_jar(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<PluginDescriptor, JarError> {
    let manifest = read_entry(archive, "META-INF/MANIFEST.MF")?
        .map(|bytes| parse_manifest(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let header = |name: &str| {
        manifest
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    match read_entry(archive, "atlassian-plugin.xml")? {
        Some(xml) => {
            let mut descriptor = parse_plugin_xml(&xml)?;
            if descriptor.key.is_empty() {
                descriptor.key = header("Atlassian-Plugin-Key")
                    .or_else(|| header("Bundle-SymbolicName").map(|name| strip_directives(&name)))
                    .ok_or_else(|| {
                        JarError::InvalidDescriptor("the plugin key is missing".into())
                    })?;
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
            let symbolic_name = header("Bundle-SymbolicName").ok_or(JarError::NoDescriptor)?;
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

fn open(bytes: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, JarError> {
    ZipArchive::new(Cursor::new(bytes)).map_err(|error| JarError::NotZip(error.to_string()))
}

fn has_entry(archive: &ZipArchive<Cursor<&[u8]>>, name: &str) -> bool {
    archive.file_names().any(|entry| entry == name)
}

fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<Vec<u8>>, JarError> {
    if !has_entry(archive, name) {
        return Ok(None);
    }
    let file = archive
        .by_name(name)
        .map_err(|error| JarError::NotZip(error.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|error| JarError::NotZip(format!("cannot read `{name}`: {error}")))?;
    Ok(Some(bytes))
}

/// `Bundle-SymbolicName: com.example;singleton:=true` → `com.example`.
fn strip_directives(value: &str) -> String {
    value.split(';').next().unwrap_or(value).trim().to_string()
}

fn parse_plugin_xml(bytes: &[u8]) -> Result<PluginDescriptor, JarError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let invalid = |error: &dyn std::fmt::Display| JarError::InvalidDescriptor(error.to_string());

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
        match reader.read_event().map_err(|error| invalid(&error))? {
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
                let value = text.unescape().map_err(|error| invalid(&error))?;
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
        return Err(JarError::InvalidDescriptor(
            "the root element is not <atlassian-plugin>".into(),
        ));
    }
    Ok(descriptor)
}

/// Reads the `<atlassian-plugin>` attributes; `false` if the root is something else.
fn read_root(
    element: &BytesStart<'_>,
    descriptor: &mut PluginDescriptor,
) -> Result<bool, JarError> {
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
            return Err(JarError::InvalidDescriptor(format!(
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

fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, JarError> {
    for attribute in element.attributes() {
        let attribute =
            attribute.map_err(|error| JarError::InvalidDescriptor(error.to_string()))?;
        if attribute.key.local_name().as_ref() == name.as_bytes() {
            let value = attribute
                .unescape_value()
                .map_err(|error| JarError::InvalidDescriptor(error.to_string()))?;
            return Ok(Some(value.to_string()));
        }
    }
    Ok(None)
}

/// Parses `Name: value` headers, joining continuation lines (which start with one space).
fn parse_manifest(text: &str) -> Vec<(String, String)> {
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

/// Writes manifest headers, wrapping lines at 72 bytes as the jar specification requires.
fn manifest_text(headers: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        let line = format!("{name}: {value}");
        let mut rest = line.as_str();
        let mut first = true;
        while !rest.is_empty() {
            let room = if first { 72 } else { 71 };
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if !first {
                text.push(' ');
            }
            text.push_str(&rest[..cut]);
            text.push_str("\r\n");
            rest = &rest[cut..];
            first = false;
        }
    }
    text.push_str("\r\n");
    text
}

fn write_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    try_write_zip(entries).unwrap_or_else(|error| {
        // Only reachable with duplicate entry names, which the callers above never produce.
        tracing::error!("cannot build a zip in memory: {error}");
        Vec::new()
    })
}

fn try_write_zip(entries: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    // Fixed timestamp and permissions: the same inputs give the same bytes, so a sha256 can be pinned.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer.start_file(*name, options)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

fn escape_xml(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_round_trips_and_is_byte_stable() {
        let jar = build_plugin_jar("com.example.a", "A & B", "1.2.3", true);
        assert_eq!(
            jar,
            build_plugin_jar("com.example.a", "A & B", "1.2.3", true)
        );
        let descriptor = read_descriptor(&jar).unwrap();
        assert_eq!(
            descriptor,
            PluginDescriptor {
                key: "com.example.a".into(),
                name: "A & B".into(),
                version: "1.2.3".into(),
                uses_licensing: true,
            }
        );
        assert!(
            !read_descriptor(&build_plugin_jar("k", "n", "1", false))
                .unwrap()
                .uses_licensing
        );
    }

    #[test]
    fn obr_is_read_through_its_main_jar() {
        let main = build_plugin_jar("com.example.obr", "Obr", "2.0.0", false);
        let dependency = build_plugin_jar("com.example.dep", "Dep", "1.0", false);
        let obr = build_obr(&main, &[("dep.jar", &dependency)]);
        assert_eq!(read_descriptor(&obr).unwrap().key, "com.example.obr");
        assert_eq!(obr, build_obr(&main, &[("dep.jar", &dependency)]));
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
        let jar = write_zip(&[("atlassian-plugin.xml", xml)]);
        let descriptor = read_descriptor(&jar).unwrap();
        assert_eq!(descriptor.key, "the.key");
        assert_eq!(descriptor.version, "3.0.1");
        assert!(descriptor.uses_licensing);
    }

    #[test]
    fn manifest_only_bundle_and_errors() {
        let manifest = manifest_text(&[
            ("Bundle-SymbolicName", "com.example.bundle;singleton:=true"),
            ("Bundle-Version", "4.5"),
        ]);
        let jar = write_zip(&[("META-INF/MANIFEST.MF", manifest.as_bytes())]);
        let descriptor = read_descriptor(&jar).unwrap();
        assert_eq!(
            (descriptor.key.as_str(), descriptor.version.as_str()),
            ("com.example.bundle", "4.5")
        );

        assert!(matches!(
            read_descriptor(b"not a zip"),
            Err(JarError::NotZip(_))
        ));
        let empty = write_zip(&[("readme.txt", b"hello")]);
        assert_eq!(read_descriptor(&empty), Err(JarError::NoDescriptor));
        let broken = write_zip(&[(
            "atlassian-plugin.xml",
            b"<atlassian-plugin key=\"k\"><plugin-info></atlassian-plugin>",
        )]);
        assert!(matches!(
            read_descriptor(&broken),
            Err(JarError::InvalidDescriptor(_))
        ));
    }

    #[test]
    fn long_manifest_lines_are_wrapped_and_rejoined() {
        let key = "com.example.".repeat(10);
        let text = manifest_text(&[("Atlassian-Plugin-Key", &key)]);
        assert!(text.lines().all(|line| line.len() <= 72));
        assert_eq!(
            parse_manifest(&text),
            vec![("Atlassian-Plugin-Key".to_string(), key)]
        );
    }
}
