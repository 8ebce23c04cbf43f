//! Plugin artifacts for the simulator: builds byte-stable plugin jars and OBRs. Reading them is
//! [`upmsync_plugin::descriptor`]'s job; [`read_descriptor`] and [`PluginDescriptor`] are re-exported
//! here for the simulator's callers.
//!
//! Layout follows marketplace-api.md §13: `atlassian-plugin.xml` at the jar root, OSGi headers in
//! `META-INF/MANIFEST.MF`; an OBR is a zip with `obr.xml` and exactly one main jar at its root.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

pub use upmsync_plugin::descriptor::{read_descriptor, DescriptorError, PluginDescriptor};

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

/// Writes a plugin jar like [`build_plugin_jar`] to `path`, plus a stored (uncompressed) entry
/// `padding.bin` of `padding` pseudo-random bytes, so the file is about that much bigger: a big
/// artifact (hundreds of MiB) written in 1 MiB pieces without holding it in memory. The bytes
/// depend only on the inputs.
///
/// # Errors
///
/// Any error creating or writing the file.
pub fn write_padded_plugin_jar(
    path: &Path,
    key: &str,
    name: &str,
    version: &str,
    uses_licensing: bool,
    padding: u64,
) -> std::io::Result<()> {
    // The small jar's entries are copied over, then the padding follows them.
    let small = build_plugin_jar(key, name, version, uses_licensing);
    let mut source = ZipArchive::new(Cursor::new(small)).map_err(std::io::Error::other)?;
    let mut writer = ZipWriter::new(BufWriter::new(File::create(path)?));
    for index in 0..source.len() {
        let entry = source.by_index_raw(index).map_err(std::io::Error::other)?;
        writer.raw_copy_file(entry).map_err(std::io::Error::other)?;
    }
    write_padding(&mut writer, "padding.bin", padding)?;
    writer
        .finish()
        .map_err(std::io::Error::other)?
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()
}

/// Writes an OBR like [`build_obr`] to `path` whose main jar is a padded plugin jar (see
/// [`write_padded_plugin_jar`]: `padding` bytes beside its descriptor) and which carries one small
/// dependency jar: the descriptor must be read from a big nested jar. Written in pieces without
/// holding the main jar in memory; the bytes depend only on the inputs.
///
/// # Errors
///
/// Any error creating or writing the file (or its temporary neighbour `<path>.main`).
pub fn write_padded_obr(
    path: &Path,
    key: &str,
    name: &str,
    version: &str,
    uses_licensing: bool,
    padding: u64,
) -> std::io::Result<()> {
    let main_path = path.with_extension("main");
    write_padded_plugin_jar(&main_path, key, name, version, uses_licensing, padding)?;
    // The OBR is built small (obr.xml, a small main jar, the dependency), then the padded main jar
    // is stored in place of the small one.
    let small_main = build_plugin_jar(key, name, version, uses_licensing);
    let dependency = build_plugin_jar("com.example.upmsync.library", "Library", "1.0.0", false);
    let small = build_obr(&small_main, &[("library.jar", &dependency)]);
    let main_name = format!("{key}-{version}.jar");
    let mut source = ZipArchive::new(Cursor::new(small)).map_err(std::io::Error::other)?;
    let mut writer = ZipWriter::new(BufWriter::new(File::create(path)?));
    for index in 0..source.len() {
        let entry = source.by_index_raw(index).map_err(std::io::Error::other)?;
        if entry.name().is_ok_and(|name| name == main_name) {
            continue;
        }
        writer.raw_copy_file(entry).map_err(std::io::Error::other)?;
    }
    writer
        .start_file(main_name.as_str(), stored_options())
        .map_err(std::io::Error::other)?;
    std::io::copy(&mut File::open(&main_path)?, &mut writer)?;
    std::fs::remove_file(&main_path)?;
    writer
        .finish()
        .map_err(std::io::Error::other)?
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()
}

/// A stored entry of `length` pseudo-random (incompressible) bytes from a fixed seed.
fn write_padding<W: Write + std::io::Seek>(
    writer: &mut ZipWriter<W>,
    name: &str,
    length: u64,
) -> std::io::Result<()> {
    const PIECE: usize = 1024 * 1024;
    writer
        .start_file(name, stored_options())
        .map_err(std::io::Error::other)?;
    let mut random = fastrand::Rng::with_seed(length);
    let mut piece = vec![0u8; PIECE];
    let mut left = length;
    while left > 0 {
        let size = usize::try_from(left).map_or(PIECE, |left| left.min(PIECE));
        random.fill(&mut piece[..size]);
        writer.write_all(&piece[..size])?;
        left -= size as u64;
    }
    Ok(())
}

fn stored_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644)
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
    use upmsync_plugin::descriptor::{is_obr, parse_manifest};

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
    fn manifest_only_bundle_is_read() {
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

    #[test]
    fn padded_jar_and_obr_are_read_like_small_ones() {
        let folder = tempfile::tempdir().unwrap();
        let jar = folder.path().join("big.jar");
        write_padded_plugin_jar(&jar, "com.example.big", "Big", "3.0.0", true, 3 << 20).unwrap();
        let bytes = std::fs::read(&jar).unwrap();
        assert!(bytes.len() > 3 << 20);
        let descriptor = read_descriptor(&bytes).unwrap();
        assert_eq!(descriptor.key, "com.example.big");
        assert!(descriptor.uses_licensing);

        let obr = folder.path().join("big.obr");
        write_padded_obr(&obr, "com.example.big", "Big", "3.0.0", false, 3 << 20).unwrap();
        let bytes = std::fs::read(&obr).unwrap();
        assert!(bytes.len() > 3 << 20);
        assert!(is_obr(Cursor::new(&bytes)));
        let descriptor = read_descriptor(&bytes).unwrap();
        assert_eq!(
            (descriptor.key.as_str(), descriptor.version.as_str()),
            ("com.example.big", "3.0.0")
        );
        assert!(!folder.path().join("big.main").exists());
    }

    #[test]
    fn obr_is_told_from_a_jar() {
        let jar = build_plugin_jar("com.example.a", "A", "1.0", false);
        let obr = build_obr(&jar, &[]);
        assert!(is_obr(Cursor::new(&obr)));
        assert!(!is_obr(Cursor::new(&jar)));
        assert!(!is_obr(Cursor::new(b"nope")));
    }
}
