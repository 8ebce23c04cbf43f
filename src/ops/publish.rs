//! `upmsync publish`: a new version of an existing Marketplace listing from a plugin artifact.
//!
//! Reads the artifact (key and version from its descriptor; an OBR's main jar), decides the build
//! number and compatibility, checks the listing (the name and build number are free; the latest
//! version's build number and compatibility), builds the version document
//! (marketplace-api.md §3, §4; the fields a real publisher tool sends, MARV), then uploads the
//! artifact and creates the version ([`crate::marketplace::publish`]). `--dry-run` stops before
//! the upload and returns the document. Warnings and what could not be checked come back as
//! values in the [`Publication`].

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use url::Url;

use crate::artifact::ArtifactError;
use crate::http::HttpSettings;
use crate::marketplace::publish::{
    CreateError, PublishError, PublishedVersion, Publisher, PublisherCredentials,
};
use crate::model::Sha256;

/// The application keys `--compatibility` accepts: those the Marketplace's Java client predefines
/// for Server and Data Center products (marketplace-api.md §8, `ApplicationKey`; HipChat left out).
pub const APPLICATIONS: &[&str] = &[
    "jira",
    "confluence",
    "bitbucket",
    "bamboo",
    "fecru",
    "crowd",
];

/// The largest release notes file read, in bytes.
pub const MAX_RELEASE_NOTES_BYTES: u64 = 64 * 1024;

/// What the href of the artifact reads as in a dry run's document: nothing was uploaded.
pub const PLACEHOLDER_ARTIFACT: &str = "/rest/2/assets/artifact%2F(uploaded-by-publish)%2F";

/// A version's status when it is created (§4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Visible only to the vendor (and to requests with credentials and `includePrivate`).
    #[default]
    Private,
    /// Visible to everyone (the real Marketplace first submits a listing's first public version
    /// for approval).
    Public,
}

impl Status {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Private => "private",
            Status::Public => "public",
        }
    }
}

/// Who is paid for a version (§4 `paymentModel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentModel {
    /// No charge.
    #[default]
    Free,
    /// Paid via the vendor.
    Vendor,
    /// Paid via Atlassian.
    Atlassian,
}

impl PaymentModel {
    /// The payment model the API spells `text`, if any.
    pub fn from_api(text: &str) -> Option<Self> {
        [
            PaymentModel::Free,
            PaymentModel::Vendor,
            PaymentModel::Atlassian,
        ]
        .into_iter()
        .find(|model| model.as_str() == text)
    }

    /// The payment model as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentModel::Free => "free",
            PaymentModel::Vendor => "vendor",
            PaymentModel::Atlassian => "atlassian",
        }
    }
}

/// One `--compatibility APP:MIN_BUILD-MAX_BUILD`: the product build range (inclusive, §5) a
/// version supports on Data Center.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompatibilityRange {
    /// The Marketplace application key (`jira`, `confluence`, ...).
    pub application: String,
    /// The lowest product build supported.
    pub min_build: u64,
    /// The highest product build supported.
    pub max_build: u64,
    /// The product version of `min_build`, when known (copied from the previous version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The product version of `max_build`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// Why a `--compatibility` value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompatibilityError {
    /// Not `APP:MIN-MAX`.
    #[error("`{text}` is not APP:MIN_BUILD-MAX_BUILD, e.g. jira:9120000-10030000")]
    Shape { text: String },
    /// An application key the Marketplace's client does not predefine.
    #[error("`{application}` is not a Marketplace application key (one of {})", APPLICATIONS.join(", "))]
    UnknownApplication { application: String },
    /// A bound that is not a build number.
    #[error("`{value}` in `{text}` is not a build number")]
    Build { text: String, value: String },
    /// MIN above MAX.
    #[error("in `{text}` the lowest build {min} is above the highest {max}")]
    Order { text: String, min: u64, max: u64 },
}

/// Reads `APP:MIN_BUILD-MAX_BUILD` (`jira:9120000-10030000`): a known application key, two
/// integers, MIN at most MAX. The clap parser of `--compatibility`.
///
/// # Errors
///
/// [`CompatibilityError`], naming the value.
pub fn parse_compatibility(text: &str) -> Result<CompatibilityRange, CompatibilityError> {
    let shape = || CompatibilityError::Shape {
        text: text.to_string(),
    };
    let (application, range) = text.split_once(':').ok_or_else(shape)?;
    let (min, max) = range.split_once('-').ok_or_else(shape)?;
    let application = application.trim();
    if !APPLICATIONS.contains(&application) {
        return Err(CompatibilityError::UnknownApplication {
            application: application.to_string(),
        });
    }
    let build = |value: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| CompatibilityError::Build {
                text: text.to_string(),
                value: value.trim().to_string(),
            })
    };
    let (min_build, max_build) = (build(min)?, build(max)?);
    if min_build > max_build {
        return Err(CompatibilityError::Order {
            text: text.to_string(),
            min: min_build,
            max: max_build,
        });
    }
    Ok(CompatibilityRange {
        application: application.to_string(),
        min_build,
        max_build,
        min_version: None,
        max_version: None,
    })
}

/// Why a `--marketplace-url` was refused. The text itself is never shown: it may hold credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceUrlError {
    /// Not a URL at all.
    #[error("the Marketplace URL (`--marketplace-url`, UPMSYNC_MARKETPLACE_URL) is not a valid URL (its text is not shown): {reason}")]
    Invalid { reason: String },
    /// Not `http` or `https` with a host.
    #[error("the Marketplace URL (`--marketplace-url`, UPMSYNC_MARKETPLACE_URL) must be an `https` URL with a host (or `http` to loopback), found scheme `{scheme}`")]
    Scheme { scheme: String },
    /// `user:password@` in the URL.
    #[error(
        "the Marketplace URL (`--marketplace-url`, UPMSYNC_MARKETPLACE_URL) contains credentials"
    )]
    Credentials,
    /// A query or fragment.
    #[error("the Marketplace URL (`--marketplace-url`, UPMSYNC_MARKETPLACE_URL) `{shown}` must not have a query (`?`) or fragment (`#`)")]
    Query { shown: String },
}

impl MarketplaceUrlError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            MarketplaceUrlError::Credentials => Some(
                "give them in MARKETPLACE_EMAIL and MARKETPLACE_API_TOKEN, never in the URL".into(),
            ),
            _ => None,
        }
    }
}

/// Reads `--marketplace-url`: an absolute `http` or `https` URL with a host, without credentials,
/// query or fragment, as the manifest's `marketplace.url` must be (whether plain `http` may carry
/// the credentials is decided where they are sent: loopback only).
///
/// # Errors
///
/// [`MarketplaceUrlError`], never showing the text.
pub fn parse_marketplace_url(text: &str) -> Result<Url, MarketplaceUrlError> {
    let url = Url::parse(text.trim()).map_err(|error| MarketplaceUrlError::Invalid {
        reason: error.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(MarketplaceUrlError::Scheme {
            scheme: url.scheme().to_string(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MarketplaceUrlError::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        return Err(MarketplaceUrlError::Query {
            shown: shown.to_string(),
        });
    }
    Ok(url)
}

/// Why no build number could be derived from a version name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot derive a build number from version `{version}`: {reason}")]
pub struct BuildNumberError {
    /// The version name.
    pub version: String,
    /// Why it does not fit the formula.
    pub reason: String,
}

impl BuildNumberError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some("pass `--build-number N` (above the latest version's; the Marketplace sorts versions by it)".into())
    }
}

/// The build number of version `MAJOR.MINOR.PATCH` (one to three numeric parts, missing ones 0):
/// `MAJOR * 100_000_000 + MINOR * 100_000 + PATCH * 100`, the formula of a real publisher tool
/// (MARV `ReleaseDetails.getBuildNumber`, which adds the hosting type's ordinal; upmsync adds
/// nothing). It keeps versions in order and leaves 99 numbers free after each release.
///
/// # Errors
///
/// A version with a qualifier (`1.0.0-beta`), more than three parts, a MINOR or PATCH above 999,
/// a result of 0 or above the largest JSON int64.
pub fn derive_build_number(version: &str) -> Result<u64, BuildNumberError> {
    let error = |reason: &str| BuildNumberError {
        version: version.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() > 3 {
        return Err(error("it has more than three parts (MAJOR.MINOR.PATCH)"));
    }
    let mut numbers = [0u64; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
            return Err(error(
                "it is not MAJOR.MINOR.PATCH in digits (a qualifier such as `-beta` has no place in the formula)",
            ));
        }
        *slot = part.parse().map_err(|_| error("a part is too large"))?;
    }
    let [major, minor, patch] = numbers;
    if minor > 999 || patch > 999 {
        return Err(error("MINOR and PATCH must be at most 999"));
    }
    let build = major
        .checked_mul(100_000_000)
        .and_then(|build| build.checked_add(minor * 100_000 + patch * 100))
        .filter(|build| *build <= i64::MAX as u64)
        .ok_or_else(|| error("MAJOR is too large"))?;
    if build == 0 {
        return Err(error(
            "it gives build number 0, and build numbers start at 1",
        ));
    }
    Ok(build)
}

/// What `upmsync publish` was asked to do.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    /// The artifact (`.jar` or `.obr`).
    pub artifact: PathBuf,
    /// `--addon-key`: the listing the artifact must be of.
    pub addon_key: Option<String>,
    /// `--status`.
    pub status: Status,
    /// `--payment-model`; `None`: the latest version's, else free.
    pub payment_model: Option<PaymentModel>,
    /// `--release-summary`.
    pub release_summary: Option<String>,
    /// `--release-notes`: a file of HTML or text.
    pub release_notes: Option<PathBuf>,
    /// `--beta`.
    pub beta: bool,
    /// `--supported`.
    pub supported: bool,
    /// `--compatibility`, in the order given; empty: copied from the latest version.
    pub compatibilities: Vec<CompatibilityRange>,
    /// `--build-number`; `None`: derived ([`derive_build_number`]).
    pub build_number: Option<u64>,
    /// The Marketplace (`--marketplace-url`).
    pub marketplace: Url,
    /// `--dry-run`: read only, and return the document.
    pub dry_run: bool,
    /// The account to publish as; `None` only for a dry run (anonymous reads).
    pub credentials: Option<PublisherCredentials>,
    /// The release date, `YYYY-MM-DD` (today, UTC).
    pub release_date: String,
}

/// The artifact as published: its file name, size in bytes and sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactFacts {
    /// The file's name, as uploaded (`?file=`).
    pub file: String,
    /// Its size, in bytes.
    pub size: u64,
    /// The sha256 of its bytes.
    pub sha256: Sha256,
}

/// What a publish did (or, in a dry run, would do).
#[derive(Clone, Debug)]
pub struct Publication {
    /// The listing's key.
    pub key: String,
    /// The version's name.
    pub name: String,
    /// Its build number.
    pub build_number: u64,
    /// Its status: as created, as the Marketplace reads it back (`private`, `public`,
    /// `submitted`...); the requested one in a dry run.
    pub status: String,
    /// Its Data Center compatibility.
    pub compatibilities: Vec<CompatibilityRange>,
    /// Whether the compatibility came from the latest version.
    pub compatibility_copied_from: Option<String>,
    /// The payment model sent (§4 `paymentModel`).
    pub payment_model: PaymentModel,
    /// The version it was copied from, when `--payment-model` was not given.
    pub payment_model_copied_from: Option<String>,
    /// The artifact.
    pub artifact: ArtifactFacts,
    /// The version's page (or API resource), when published.
    pub url: Option<Url>,
    /// Why the create's answer was lost, when the version was found by reading the listing again.
    pub answer_lost: Option<String>,
    /// `Some(document)` in a dry run: the JSON it would post (placeholder artifact href).
    pub dry_run: Option<Value>,
    /// What a dry run without credentials could not check.
    pub unchecked: Vec<String>,
    /// Warnings a user must read (a build number not above the latest's).
    pub warnings: Vec<String>,
}

/// Why a publish stopped. Nothing was created unless the variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum PublishRunError {
    /// The artifact could not be read as a plugin.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The artifact cannot be read (missing, not a regular file, larger than 2 GiB).
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::files::FileError,
    },
    /// The artifact's name does not end `.jar` or `.obr`.
    #[error("`{}` is not named `*.jar` or `*.obr`, which the Marketplace requires of an artifact", path.display())]
    FileName { path: PathBuf },
    /// The descriptor names no version.
    #[error("`{}` names no version in its descriptor (`plugin-info/version` or `Bundle-Version`)", path.display())]
    NoVersion { path: PathBuf },
    /// The artifact is another app than `--addon-key`.
    #[error("`{}` is the app `{found}`, but `--addon-key` is `{wanted}`", path.display())]
    KeyMismatch {
        path: PathBuf,
        found: String,
        wanted: String,
    },
    /// No build number could be derived.
    #[error(transparent)]
    BuildNumber(#[from] BuildNumberError),
    /// The release notes file cannot be used.
    #[error("cannot use the release notes file `{}`: {reason}", path.display())]
    ReleaseNotes { path: PathBuf, reason: String },
    /// Talking to the Marketplace failed before anything was uploaded (boxed: errors stay small).
    #[error(transparent)]
    Marketplace(Box<PublishError>),
    /// `--compatibility` names one application twice: a version has one range per application.
    #[error("`--compatibility` names `{application}` twice ({first}, {second}): a version has one range per application")]
    RepeatedCompatibility {
        application: String,
        first: String,
        second: String,
    },
    /// The version name cannot be one: empty, `.`/`..`, or with a `/` (it is a path segment of
    /// the Marketplace's `byName` link).
    #[error("`{name}` cannot be a Marketplace version name")]
    UnusableName { name: String },
    /// `--payment-model` was not given and the latest version's cannot be copied: its
    /// `paymentModel` is missing or one upmsync does not know.
    #[error("the latest version `{version}` of `{key}` has {}, so its payment model cannot be copied", model.as_ref().map(|model| format!("the payment model `{model}`, which upmsync does not know")).unwrap_or_else(|| "no payment model".into()))]
    UnknownPaymentModel {
        key: String,
        version: String,
        model: Option<String>,
    },
    /// The listing has a version of that name already.
    #[error("`{key}` already has a version `{name}` ({status}) on the Marketplace")]
    NameTaken {
        key: String,
        name: String,
        status: String,
    },
    /// The build number is another version's.
    #[error("build number {build_number} of `{key}` is already version `{name}`'s")]
    BuildTaken {
        key: String,
        build_number: u64,
        name: String,
    },
    /// No compatibility was given and the latest version has none for Data Center.
    #[error("no compatibility for `{key}`: none was given and {why}")]
    NoCompatibility { key: String, why: String },
    /// The upload failed: nothing was published.
    #[error("uploading `{file}` failed: nothing was published")]
    Upload {
        file: String,
        #[source]
        source: Box<PublishError>,
    },
    /// The create failed.
    #[error(transparent)]
    Create(Box<CreateError>),
}

impl From<PublishError> for PublishRunError {
    fn from(error: PublishError) -> Self {
        PublishRunError::Marketplace(Box::new(error))
    }
}

impl From<CreateError> for PublishRunError {
    fn from(error: CreateError) -> Self {
        PublishRunError::Create(Box::new(error))
    }
}

impl PublishRunError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            // Transparent wrappers: the chain skips the error they hold, so its hint is asked here.
            PublishRunError::Artifact(error) => return error.hint(),
            PublishRunError::BuildNumber(error) => return error.hint(),
            PublishRunError::Marketplace(error) => return error.hint(),
            PublishRunError::Create(error) => return error.hint(),
            PublishRunError::KeyMismatch { .. } => "publish the listing's own artifact, or correct `--addon-key`".into(),
            PublishRunError::NameTaken { .. } => "publish never replaces a version: raise the version in the artifact's descriptor".into(),
            PublishRunError::BuildTaken { .. } => "pass another `--build-number` (above the latest version's)".into(),
            PublishRunError::UnknownPaymentModel { .. } => "pass `--payment-model free|vendor|atlassian` (a paid app's version must not be published free by mistake)".into(),
            PublishRunError::RepeatedCompatibility { .. } => "give one `--compatibility APP:MIN_BUILD-MAX_BUILD` per application, covering every build the version supports".into(),
            PublishRunError::UnusableName { .. } => "set the version in the artifact's descriptor to a name such as `1.2.3`".into(),
            PublishRunError::NoCompatibility { .. } => "pass `--compatibility APP:MIN_BUILD-MAX_BUILD` (e.g. jira:9120000-10030000), once per product".into(),
            PublishRunError::Upload { .. } => "an upload the Marketplace may have stored is referenced by no version, invisible and harmless: it is safe to run the same publish again".into(),
            _ => return None,
        })
    }
}

/// The artifact's key, version and facts, read on the blocking pool.
struct ReadArtifact {
    key: String,
    version: String,
    facts: ArtifactFacts,
}

fn read_artifact(path: &Path) -> Result<ReadArtifact, PublishRunError> {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = file.to_ascii_lowercase();
    if !(lower.ends_with(".jar") || lower.ends_with(".obr")) {
        return Err(PublishRunError::FileName {
            path: path.to_path_buf(),
        });
    }
    let io = |source: std::io::Error| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (mut opened, sha256) = crate::artifact::hash_file(path)
        .map_err(|error| io(std::io::Error::other(error.to_string())))?;
    let size = opened.metadata().map_err(io)?.len();
    opened.seek(SeekFrom::Start(0)).map_err(io)?;
    let descriptor = crate::artifact::read_descriptor_from(std::io::BufReader::new(opened))
        .map_err(|error| ArtifactError::from_descriptor(error, Some(path.to_path_buf())))?;
    if descriptor.version.trim().is_empty() {
        return Err(PublishRunError::NoVersion {
            path: path.to_path_buf(),
        });
    }
    Ok(ReadArtifact {
        key: descriptor.key,
        version: descriptor.version.trim().to_string(),
        facts: ArtifactFacts { file, size, sha256 },
    })
}

fn read_release_notes(path: &Path) -> Result<String, PublishRunError> {
    let fail = |reason: String| PublishRunError::ReleaseNotes {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = crate::files::read_capped(path, MAX_RELEASE_NOTES_BYTES)
        .map_err(|error| fail(error.to_string()))?;
    let mut text = String::new();
    bytes
        .as_slice()
        .read_to_string(&mut text)
        .map_err(|_| fail("it is not UTF-8 text".into()))?;
    let html = path
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            extension.eq_ignore_ascii_case("html") || extension.eq_ignore_ascii_case("htm")
        });
    Ok(if html { text } else { text_to_html(&text) })
}

/// Plain text as the HTML the Marketplace shows release notes in (marketplace-api.md §4:
/// `text.releaseNotes` is HTML): characters escaped, paragraphs at blank lines, other line breaks
/// kept. A tag message `Fixes a < b` must not become markup.
fn text_to_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| {
            let lines: Vec<String> = paragraph
                .lines()
                .map(|line| quick_xml::escape::escape(line.trim_end()).into_owned())
                .collect();
            format!("<p>{}</p>", lines.join("<br>"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The compatibility of the latest version for Data Center, as ranges.
fn data_center_ranges(version: &PublishedVersion) -> Vec<CompatibilityRange> {
    version
        .compatibilities
        .iter()
        .filter_map(|compatibility| {
            let range = compatibility.hosting.data_center.as_ref()?;
            Some(CompatibilityRange {
                application: compatibility.application.clone(),
                min_build: range.min.build,
                max_build: range.max.build,
                min_version: range.min.version.clone(),
                max_version: range.max.version.clone(),
            })
        })
        .collect()
}

/// The version document `POST <versions>` sends (§3, §4; fields as MARV sends them).
pub fn version_document(
    request: &PublishRequest,
    artifact_href: &str,
    name: &str,
    build_number: u64,
    compatibilities: &[CompatibilityRange],
    release_notes: Option<&str>,
) -> Value {
    let bound = |build: u64, version: &Option<String>| match version {
        Some(version) => json!({"build": build, "version": version}),
        None => json!({"build": build}),
    };
    let compatibilities: Vec<Value> = compatibilities
        .iter()
        .map(|range| {
            json!({
                "application": range.application,
                "hosting": {"dataCenter": {
                    "min": bound(range.min_build, &range.min_version),
                    "max": bound(range.max_build, &range.max_version),
                }},
            })
        })
        .collect();
    let mut document = json!({
        "_links": {
            "artifact": {"href": artifact_href},
            // MARV sends the publisher agreement's link with every create.
            "agreement": {"href": "http://www.atlassian.com/licensing/marketplace/publisheragreement"},
        },
        "buildNumber": build_number,
        "name": name,
        "status": request.status.as_str(),
        "paymentModel": request.payment_model.unwrap_or_default().as_str(),
        "release": {
            "date": request.release_date,
            "beta": request.beta,
            "supported": request.supported,
        },
        "compatibilities": compatibilities,
        "deployment": {
            "server": false,
            "cloud": false,
            "connect": false,
            "dataCenter": true,
            "dataCenterStatus": "compatible",
        },
    });
    let mut text = serde_json::Map::new();
    if let Some(summary) = &request.release_summary {
        text.insert("releaseSummary".into(), Value::String(summary.clone()));
    }
    if let Some(notes) = release_notes {
        text.insert("releaseNotes".into(), Value::String(notes.to_string()));
    }
    if !text.is_empty() {
        document["text"] = Value::Object(text);
    }
    document
}

/// Publishes (or, with `dry_run`, checks and describes) a version: see the module docs.
///
/// # Errors
///
/// [`PublishRunError`]: the artifact, the checks, the Marketplace's refusals.
pub async fn publish(
    request: &PublishRequest,
    settings: &HttpSettings,
) -> Result<Publication, PublishRunError> {
    let mut seen: Vec<&CompatibilityRange> = Vec::new();
    for range in &request.compatibilities {
        if let Some(first) = seen
            .iter()
            .find(|seen| seen.application == range.application)
        {
            return Err(PublishRunError::RepeatedCompatibility {
                application: range.application.clone(),
                first: format!("{}-{}", first.min_build, first.max_build),
                second: format!("{}-{}", range.min_build, range.max_build),
            });
        }
        seen.push(range);
    }
    let path = request.artifact.clone();
    let read = tokio::task::spawn_blocking(move || read_artifact(&path))
        .await
        .map_err(|error| ArtifactError::Io {
            path: request.artifact.clone(),
            source: std::io::Error::other(error.to_string()),
        })??;
    if let Some(wanted) = &request.addon_key {
        if *wanted != read.key {
            return Err(PublishRunError::KeyMismatch {
                path: request.artifact.clone(),
                found: read.key,
                wanted: wanted.clone(),
            });
        }
    }
    if matches!(read.version.trim(), "" | "." | "..") || read.version.contains(['/', '\\']) {
        return Err(PublishRunError::UnusableName { name: read.version });
    }
    let build_number = match request.build_number {
        Some(build) => build,
        None => derive_build_number(&read.version)?,
    };
    let release_notes = match &request.release_notes {
        Some(path) => Some(read_release_notes(path)?),
        None => None,
    };
    let publisher = Publisher::new(&request.marketplace, request.credentials.clone(), settings)?;
    let mut unchecked = Vec::new();
    if !publisher.authenticated() {
        unchecked.push("private versions: without MARKETPLACE_EMAIL and MARKETPLACE_API_TOKEN the name, build number and latest version were checked against public versions only".to_string());
    }
    tracing::info!(key = %read.key, version = %read.version, build_number, "publishing");
    let listing = publisher.discover(&read.key).await?;
    if let Some(taken) = publisher.version_by_name(&listing, &read.version).await? {
        return Err(PublishRunError::NameTaken {
            key: read.key,
            name: read.version,
            status: taken.status.unwrap_or_else(|| "status unknown".into()),
        });
    }
    if let Some(taken) = publisher.version_by_build(&listing, build_number).await? {
        return Err(PublishRunError::BuildTaken {
            key: read.key,
            build_number,
            name: taken.name,
        });
    }
    let latest = publisher.latest(&listing).await?;
    let mut warnings = Vec::new();
    if let Some(latest) = &latest {
        // An older line's fix numbered above the newest version would be listed as the newest.
        let older = crate::model::Version::from_server(&read.version)
            .compare(&crate::model::Version::from_server(&latest.name))
            .is_lt();
        if let Some(latest_build) = latest
            .build_number
            .filter(|latest| older && build_number > *latest)
        {
            warnings.push(format!(
                "version `{}` is older than the latest version `{}`, but its build number {build_number} is above `{}`'s ({latest_build}): the Marketplace sorts versions by build number, so `{}` would be listed as the newest; pass a `--build-number` below {latest_build} for a fix of an older line",
                read.version, latest.name, latest.name, read.version
            ));
        }
        if let Some(latest_build) = latest.build_number.filter(|latest| build_number <= *latest) {
            warnings.push(format!(
                "build number {build_number} is not above that of the latest version `{}` ({latest_build}): the Marketplace sorts versions by build number, so `{}` will not be the newest",
                latest.name, read.version
            ));
        }
    }
    let (compatibilities, copied_from) = if request.compatibilities.is_empty() {
        let Some(latest) = &latest else {
            return Err(PublishRunError::NoCompatibility {
                key: read.key,
                why: "the listing has no version to copy it from".into(),
            });
        };
        let ranges = data_center_ranges(latest);
        if ranges.is_empty() {
            return Err(PublishRunError::NoCompatibility {
                key: read.key,
                why: format!(
                    "the latest version `{}` has no Data Center compatibility to copy",
                    latest.name
                ),
            });
        }
        (ranges, Some(latest.name.clone()))
    } else {
        (request.compatibilities.clone(), None)
    };
    // The listing's payment model is a property of the app more than of one version: a paid
    // app's new version stays paid unless `--payment-model` says otherwise.
    let (payment_model, payment_model_copied_from) = match (request.payment_model, &latest) {
        (Some(model), _) => (model, None),
        (None, Some(latest)) => match latest
            .payment_model
            .as_deref()
            .and_then(PaymentModel::from_api)
        {
            Some(model) => (model, Some(latest.name.clone())),
            None => {
                return Err(PublishRunError::UnknownPaymentModel {
                    key: read.key,
                    version: latest.name.clone(),
                    model: latest.payment_model.clone(),
                })
            }
        },
        (None, None) => (PaymentModel::Free, None),
    };
    let request = &PublishRequest {
        payment_model: Some(payment_model),
        ..request.clone()
    };
    let mut publication = Publication {
        key: read.key.clone(),
        name: read.version.clone(),
        build_number,
        status: request.status.as_str().to_string(),
        compatibilities: compatibilities.clone(),
        compatibility_copied_from: copied_from,
        payment_model,
        payment_model_copied_from,
        artifact: read.facts.clone(),
        url: None,
        answer_lost: None,
        dry_run: None,
        unchecked,
        warnings,
    };
    if request.dry_run {
        publication.dry_run = Some(version_document(
            request,
            &format!("{PLACEHOLDER_ARTIFACT}{}", read.facts.file),
            &read.version,
            build_number,
            &compatibilities,
            release_notes.as_deref(),
        ));
        return Ok(publication);
    }
    tracing::info!(file = %read.facts.file, size = read.facts.size, "uploading the artifact");
    let asset = publisher
        .upload(&listing, &request.artifact, &read.facts.file)
        .await
        .map_err(|source| PublishRunError::Upload {
            file: read.facts.file.clone(),
            source: Box::new(source),
        })?;
    let document = version_document(
        request,
        &asset.href,
        &read.version,
        build_number,
        &compatibilities,
        release_notes.as_deref(),
    );
    tracing::info!(asset = %asset.href, "creating the version");
    let created = publisher
        .create(&listing, &document, &read.version, build_number)
        .await?;
    if let Some(status) = &created.version.status {
        publication.status = status.clone();
    }
    publication.url = created.version.page(publisher.base());
    publication.answer_lost = created.answer_lost;
    if let Some(why) = created.read_back_failed {
        publication.warnings.push(format!(
            "version `{}` was created, but reading it back failed: {why}",
            read.version
        ));
    }
    Ok(publication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_numbers_follow_the_formula() {
        assert_eq!(derive_build_number("1.2.3"), Ok(100_200_300));
        assert_eq!(derive_build_number("2"), Ok(200_000_000));
        assert_eq!(derive_build_number("0.1"), Ok(100_000));
        assert_eq!(derive_build_number("10.999.999"), Ok(1_099_999_900));
        let build = |version: &str| derive_build_number(version).unwrap();
        assert!(build("1.2.3") < build("1.2.4"));
        assert!(build("1.2.999") < build("1.3.0"));
        assert!(build("1.999.999") < build("2.0.0"));
        for refused in [
            "1.0.0-beta",
            "1.2.3.4",
            "1.1000.0",
            "0.0.0",
            "",
            "1..2",
            "v1.0",
            "99999999999999",
        ] {
            let error = derive_build_number(refused).unwrap_err();
            assert_eq!(error.version, refused);
            assert!(error.hint().unwrap().contains("--build-number"));
        }
    }

    #[test]
    fn marketplace_urls_are_checked_without_showing_them() {
        assert!(parse_marketplace_url("https://marketplace.atlassian.com/").is_ok());
        assert!(parse_marketplace_url("http://127.0.0.1:2991").is_ok());
        for (text, error) in [
            (
                "https://user:hunter22@marketplace.example.com/",
                MarketplaceUrlError::Credentials,
            ),
            (
                "ftp://marketplace.example.com/",
                MarketplaceUrlError::Scheme {
                    scheme: "ftp".into(),
                },
            ),
            (
                "https://m.example.com/?token=hunter22",
                MarketplaceUrlError::Query {
                    shown: "https://m.example.com/".into(),
                },
            ),
        ] {
            let refused = parse_marketplace_url(text).unwrap_err();
            assert_eq!(refused, error);
            assert!(!refused.to_string().contains("hunter22"), "{refused}");
        }
        let invalid = parse_marketplace_url("not a url hunter22")
            .unwrap_err()
            .to_string();
        assert!(!invalid.contains("hunter22"), "{invalid}");
    }

    #[test]
    fn compatibility_flags_are_checked() {
        assert_eq!(
            parse_compatibility("jira:9120000-10030000"),
            Ok(CompatibilityRange {
                application: "jira".into(),
                min_build: 9_120_000,
                max_build: 10_030_000,
                min_version: None,
                max_version: None,
            })
        );
        assert!(parse_compatibility("bamboo:5-5").is_ok());
        let error = |text: &str| parse_compatibility(text).unwrap_err().to_string();
        assert!(error("jira").contains("APP:MIN_BUILD-MAX_BUILD"));
        assert!(error("jira:5").contains("APP:MIN_BUILD-MAX_BUILD"));
        assert!(error("hipchat:1-2").contains("`hipchat` is not a Marketplace application key"));
        assert!(error("jira:x-2").contains("`x`"));
        assert!(error("jira:3-2").contains("above the highest"));
    }

    #[test]
    fn release_notes_are_text_and_capped() {
        let folder = tempfile::tempdir().unwrap();
        let notes = folder.path().join("notes.html");
        std::fs::write(&notes, "<p>Fixes</p>").unwrap();
        assert_eq!(read_release_notes(&notes).unwrap(), "<p>Fixes</p>");
        // Any other file is text: escaped, in paragraphs.
        let text = folder.path().join("notes.txt");
        std::fs::write(&text, "Fixes a < b & c.\nAnd more.\n\n\nThanks <you>\n").unwrap();
        assert_eq!(
            read_release_notes(&text).unwrap(),
            "<p>Fixes a &lt; b &amp; c.<br>And more.</p>\n<p>Thanks &lt;you&gt;</p>"
        );
        std::fs::write(&notes, [0xff, 0xfe, 0x00]).unwrap();
        let error = read_release_notes(&notes).unwrap_err().to_string();
        assert!(error.ends_with("it is not UTF-8 text"), "{error}");
        std::fs::write(&notes, "x".repeat(MAX_RELEASE_NOTES_BYTES as usize + 1)).unwrap();
        let error = read_release_notes(&notes).unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }

    fn request() -> PublishRequest {
        PublishRequest {
            artifact: PathBuf::from("app-1.2.3.jar"),
            addon_key: None,
            status: Status::Private,
            payment_model: None,
            release_summary: Some("Fixes".into()),
            release_notes: None,
            beta: false,
            supported: true,
            compatibilities: Vec::new(),
            build_number: None,
            marketplace: Url::parse("https://marketplace.atlassian.com/").unwrap(),
            dry_run: true,
            credentials: None,
            release_date: "2026-12-01".into(),
        }
    }

    #[test]
    fn the_document_has_the_fields_of_the_contract() {
        let ranges = vec![parse_compatibility("jira:900000-1000000").unwrap()];
        let document = version_document(
            &request(),
            "/rest/2/assets/artifact%2Fu%2Fapp-1.2.3.jar",
            "1.2.3",
            100_200_300,
            &ranges,
            Some("<p>notes</p>"),
        );
        assert_eq!(
            document,
            json!({
                "_links": {
                    "artifact": {"href": "/rest/2/assets/artifact%2Fu%2Fapp-1.2.3.jar"},
                    "agreement": {"href": "http://www.atlassian.com/licensing/marketplace/publisheragreement"},
                },
                "buildNumber": 100_200_300,
                "name": "1.2.3",
                "status": "private",
                "paymentModel": "free",
                "release": {"date": "2026-12-01", "beta": false, "supported": true},
                "compatibilities": [{"application": "jira", "hosting": {"dataCenter": {"min": {"build": 900_000}, "max": {"build": 1_000_000}}}}],
                "text": {"releaseSummary": "Fixes", "releaseNotes": "<p>notes</p>"},
                "deployment": {"server": false, "cloud": false, "connect": false, "dataCenter": true, "dataCenterStatus": "compatible"},
            })
        );
        let mut bare = request();
        bare.release_summary = None;
        let document = version_document(&bare, "x", "1.2.3", 1, &ranges, None);
        assert!(document.get("text").is_none());
    }
}
