//! Plugin descriptors: what a plugin jar or OBR says about itself (key, name, version, licensing),
//! read as UPM's `JarHelper` reads them (marketplace-api.md §13).
//!
//! Files are read through `Read + Seek`, so a jar on disk is never loaded whole: only its descriptor
//! entries are unpacked. The main jar nested in an OBR is read in place when it is stored
//! uncompressed; a compressed one is unpacked into a spooled temporary file (in memory up to
//! [`NESTED_JAR_IN_MEMORY_BYTES`], on disk beyond), up to [`MAX_NESTED_JAR_BYTES`].

use std::io::{self, Cursor, Read, Seek, SeekFrom};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zip::ZipArchive;

/// The largest `atlassian-plugin.xml` or `MANIFEST.MF` read from an artifact, against zip bombs.
pub const MAX_DESCRIPTOR_BYTES: u64 = 16 * 1024 * 1024;

/// The largest main jar unpacked from an OBR.
pub const MAX_NESTED_JAR_BYTES: u64 = 256 * 1024 * 1024;

/// The main jar of an OBR is unpacked in memory up to this size, into a temporary file beyond it.
pub const NESTED_JAR_IN_MEMORY_BYTES: usize = 1024 * 1024;

/// What a plugin artifact says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDescriptor {
    pub key: String,
    pub name: String,
    pub version: String,
    pub uses_licensing: bool,
}

/// Why a plugin descriptor could not be read from an artifact. The artifact is unnamed here: the
/// caller that knows the file adds its path.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// The artifact is not a zip, or an entry in it cannot be read.
    #[error("the artifact is not a plugin jar or OBR (not a zip file): {reason}")]
    NotZip { reason: String },
    /// Neither `atlassian-plugin.xml` nor a `Bundle-SymbolicName` header.
    #[error("the artifact has neither an atlassian-plugin.xml nor a Bundle-SymbolicName")]
    NoDescriptor,
    /// `atlassian-plugin.xml` is not well-formed or not a plugin descriptor.
    #[error("the plugin descriptor of the artifact is invalid: {reason}")]
    InvalidDescriptor { reason: String },
    /// An OBR without exactly one jar at its root.
    #[error("the artifact is an OBR but has {found} jar files at its root, expected exactly one main plugin jar")]
    ObrMainJar { found: usize },
}

fn not_zip(reason: impl ToString) -> DescriptorError {
    DescriptorError::NotZip {
        reason: reason.to_string(),
    }
}

fn invalid(reason: impl ToString) -> DescriptorError {
    DescriptorError::InvalidDescriptor {
        reason: reason.to_string(),
    }
}

/// Whether a zip is an OBR (has `obr.xml` at its root); `false` for anything that is not a zip.
pub fn is_obr<R: Read + Seek>(reader: R) -> bool {
    ZipArchive::new(reader).is_ok_and(|archive| has_entry(&archive, "obr.xml"))
}

/// Reads key, name, version and licensing from a plugin jar in memory, or from the main jar of an OBR.
pub fn read_descriptor(bytes: &[u8]) -> Result<PluginDescriptor, DescriptorError> {
    read_descriptor_from(Cursor::new(bytes))
}

/// Reads key, name, version and licensing from a plugin jar, or from the main jar of an OBR.
///
/// Like UPM's `JarHelper` (marketplace-api.md §13): the key comes from `atlassian-plugin.xml`,
/// else from the manifest (`Atlassian-Plugin-Key`, then `Bundle-SymbolicName`). An OBR is a zip
/// with `obr.xml` whose only root `*.jar` is the main plugin.
pub fn read_descriptor_from<R: Read + Seek>(
    reader: R,
) -> Result<PluginDescriptor, DescriptorError> {
    let mut archive = ZipArchive::new(reader).map_err(not_zip)?;
    if has_entry(&archive, "obr.xml") {
        let main_jars: Vec<String> = archive
            .file_names()
            // A name that does not decode is no jar UPM would find either.
            .filter_map(Result::ok)
            .filter(|name| !name.contains('/') && name.to_ascii_lowercase().ends_with(".jar"))
            .map(std::borrow::Cow::into_owned)
            .collect();
        let [main_jar] = main_jars.as_slice() else {
            return Err(DescriptorError::ObrMainJar {
                found: main_jars.len(),
            });
        };
        let inner_error = |error| not_zip(format!("main jar `{main_jar}`: {error}"));
        // An OBR inside an OBR is not a thing: read the inner jar as a plain jar. A jar stored
        // uncompressed (as OBRs usually hold them) is read in place, through a window on the
        // OBR; a compressed one is unpacked first.
        if let Ok(stored) = archive.by_name_seek(main_jar) {
            let mut inner = ZipArchive::new(stored).map_err(inner_error)?;
            return read_jar(&mut inner);
        }
        let inner = unpack_entry(&mut archive, main_jar, MAX_NESTED_JAR_BYTES)?;
        let mut inner = ZipArchive::new(inner).map_err(inner_error)?;
        return read_jar(&mut inner);
    }
    read_jar(&mut archive)
}

fn read_jar<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
) -> Result<PluginDescriptor, DescriptorError> {
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
                header("Bundle-SymbolicName").ok_or(DescriptorError::NoDescriptor)?;
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
    archive.index_for_name(name).is_some()
}

/// Reads one entry whole; an entry larger than `limit` is an error rather than silently cut.
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, DescriptorError> {
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

/// Unpacks one entry into a spooled temporary file (in memory while small), rewound; an entry
/// larger than `limit` is an error rather than silently cut.
fn unpack_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<tempfile::SpooledTempFile, DescriptorError> {
    let file = archive
        .by_name(name)
        .map_err(|error| not_zip(format!("cannot open `{name}`: {error}")))?;
    let mut spooled = tempfile::SpooledTempFile::new(NESTED_JAR_IN_MEMORY_BYTES);
    let copied = io::copy(&mut file.take(limit + 1), &mut spooled)
        .map_err(|error| not_zip(format!("cannot read `{name}`: {error}")))?;
    if copied > limit {
        return Err(not_zip(format!(
            "`{name}` is larger than {} MiB when unpacked",
            limit / (1024 * 1024)
        )));
    }
    spooled
        .seek(SeekFrom::Start(0))
        .map_err(|error| not_zip(format!("cannot read `{name}`: {error}")))?;
    Ok(spooled)
}

/// `Bundle-SymbolicName: com.example;singleton:=true` → `com.example`.
fn strip_directives(value: &str) -> String {
    value.split(';').next().unwrap_or(value).trim().to_string()
}

fn parse_plugin_xml(bytes: &[u8]) -> Result<PluginDescriptor, DescriptorError> {
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
) -> Result<bool, DescriptorError> {
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

fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, DescriptorError> {
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
pub fn parse_manifest(text: &str) -> Vec<(String, String)> {
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
        assert!(matches!(error, DescriptorError::NotZip { .. }));
        assert!(error.to_string().starts_with("the artifact is not"));
        assert!(matches!(
            read_descriptor(&zip(&[("readme.txt", b"hello")])),
            Err(DescriptorError::NoDescriptor)
        ));
        let broken = zip(&[(
            "atlassian-plugin.xml",
            b"<atlassian-plugin key=\"k\"><plugin-info></atlassian-plugin>",
        )]);
        assert!(matches!(
            read_descriptor(&broken),
            Err(DescriptorError::InvalidDescriptor { .. })
        ));
        let two_mains = zip(&[
            ("obr.xml", b"<repository/>"),
            ("a.jar", b""),
            ("b.jar", b""),
        ]);
        assert!(matches!(
            read_descriptor(&two_mains),
            Err(DescriptorError::ObrMainJar { found: 2, .. })
        ));
    }

    /// A reader that counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let read = self.inner.read(buf)?;
            self.read.set(self.read.get() + read as u64);
            Ok(read)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    fn zip_with(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer
                .start_file(
                    *name,
                    SimpleFileOptions::default().compression_method(method),
                )
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Reading an OBR whose main jar is stored uncompressed reads the descriptor entries, not the
    /// jar: a few KiB of a 4 MiB file. A compressed main jar is still read (unpacked first).
    #[test]
    fn an_obr_is_verified_without_reading_its_main_jar_whole() {
        let xml = br#"<atlassian-plugin key="big.app" name="Big"><plugin-info><version>1.0</version></plugin-info></atlassian-plugin>"#;
        // Bytes that do not compress, stored after the descriptor.
        let mut state = 0x2545_f491_u32;
        let padding: Vec<u8> = (0..4 * 1024 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let jar = zip_with(
            &[("atlassian-plugin.xml", xml), ("padding.bin", &padding)],
            zip::CompressionMethod::Stored,
        );
        for (method, most) in [
            (zip::CompressionMethod::Stored, 64 * 1024),
            (zip::CompressionMethod::Deflated, u64::MAX),
        ] {
            let obr = zip_with(&[("obr.xml", b"<repository/>"), ("big.jar", &jar)], method);
            let read = std::rc::Rc::new(std::cell::Cell::new(0));
            let descriptor = read_descriptor_from(Counting {
                inner: Cursor::new(&obr),
                read: read.clone(),
            })
            .unwrap();
            assert_eq!(
                (descriptor.key.as_str(), descriptor.version.as_str()),
                ("big.app", "1.0")
            );
            assert!(
                read.get() <= most,
                "{method:?}: read {} bytes of {}",
                read.get(),
                obr.len()
            );
        }
    }
}
