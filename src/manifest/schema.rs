//! Reads the YAML tree into typed manifest entries: unknown fields, types, allowed values, required
//! fields, names, keys, versions and URLs. No IO: environment variables and files are `validate`'s.

use url::Url;

use super::tree::{shown_key, Entry, Mark, Node, Value};
use super::{shown, Problems};
use crate::http::tls::is_plain_http_refused;
use crate::model::{AppKey, Hosting, InstallMethod, Product, Sha256, Transport, UnmanagedPolicy};
use crate::version::VersionSpec;

const MANIFEST_FIELDS: &[&str] = &["marketplace", "instances", "apps"];
const MARKETPLACE_FIELDS: &[&str] = &["url"];
const INSTANCE_FIELDS: &[&str] = &[
    "name",
    "url",
    "product",
    "hosting",
    "auth",
    "unmanaged",
    "ca_file",
    "insecure_skip_tls_verify",
    "allow_http",
    "apps",
];
const AUTH_FIELDS: &[&str] = &["username_env", "password_env", "token_env"];
const APP_FIELDS: &[&str] = &[
    "key",
    "version",
    "enabled",
    "license",
    "source",
    "state",
    "install",
    "sha256",
    "allow_incompatible",
    "hosting",
    "requires",
];
const LICENSE_FIELDS: &[&str] = &["env", "file"];
const SOURCE_FIELDS: &[&str] = &["path", "url"];

const PRODUCTS: &[(&str, Product)] = &[
    ("jira", Product::Jira),
    ("confluence", Product::Confluence),
    ("bitbucket", Product::Bitbucket),
    ("bamboo", Product::Bamboo),
];
const UNMANAGED: &[(&str, UnmanagedPolicy)] = &[
    ("ignore", UnmanagedPolicy::Ignore),
    ("report", UnmanagedPolicy::Report),
    ("uninstall", UnmanagedPolicy::Uninstall),
];
const HOSTINGS: &[(&str, Hosting)] = &[
    ("datacenter", Hosting::Datacenter),
    ("server", Hosting::Server),
];
const INSTALL_METHODS: &[(&str, InstallMethod)] = &[
    ("uri", InstallMethod::Uri),
    ("upload", InstallMethod::Upload),
    ("auto", InstallMethod::Auto),
];
const STATES: &[(&str, State)] = &[("present", State::Present), ("absent", State::Absent)];
const BOOLEANS: &[(&str, bool)] = &[("true", true), ("false", false)];

/// The three forms of `version`, for hints.
pub(crate) const VERSION_FORMS_HINT: &str =
    "write an exact version (`8.28.1`), `latest`, or a constraint in quotes \
     (`\">=8.20, <9\"`, `\"~8.28\"`, `\"^8.2\"`)";

const AUTH_SECRET_HINT: &str =
    "secrets are never written in the manifest: name environment variables \
     (`username_env` and `password_env`, or `token_env`) and export them before running upmsync";
const LICENSE_SECRET_HINT: &str = "secrets are never written in the manifest: name an environment variable \
     (`license: {env: SCRIPTRUNNER_LICENSE}`) or a file (`license: {file: licenses/scriptrunner.txt}`)";

/// The manifest as written, each value checked on its own.
#[derive(Debug)]
pub(crate) struct Manifest {
    /// Given and valid, or `None` for the default (or after a reported problem).
    pub marketplace_url: Option<Url>,
    pub instances: Vec<Instance>,
    pub apps: Vec<App>,
}

/// One entry of `instances`. A `None` field was missing or invalid, and that was reported.
#[derive(Debug)]
pub(crate) struct Instance {
    /// How messages name it: "instance `jira-prod`", or "`instances[2]`" when it has no usable name.
    pub label: String,
    pub name: Option<(String, Mark)>,
    pub url: Option<Url>,
    pub product: Option<Product>,
    pub hosting: Option<Hosting>,
    pub auth: Option<Auth>,
    pub unmanaged: Option<UnmanagedPolicy>,
    /// `ca_file` as written and the mark of its value; `validate` reads it.
    pub ca_file: Option<(String, Mark)>,
    /// `None` when invalid (reported); `false` when not written.
    pub insecure_skip_tls_verify: Option<bool>,
    /// `None` when invalid (reported); `false` when not written.
    pub allow_http: Option<bool>,
    pub apps: Vec<App>,
}

#[derive(Debug)]
pub(crate) enum Auth {
    Basic {
        username_env: EnvName,
        password_env: EnvName,
    },
    Bearer {
        token_env: EnvName,
    },
}

/// The name of an environment variable, and where it is used, for messages.
#[derive(Debug)]
pub(crate) struct EnvName {
    pub name: String,
    pub mark: Mark,
    /// E.g. "`auth.password_env` of instance `jira-prod`".
    pub used_by: String,
}

/// A field of an app entry, kept three ways so merging can tell "not written" (inherit) from
/// "written but wrong" (already reported; inherit nothing).
#[derive(Debug)]
pub(crate) enum Field<T> {
    Missing,
    Invalid(Mark),
    /// The value and the mark of its key.
    Given(T, Mark),
}

impl<T> Field<T> {
    /// Where the field was written, if it was.
    pub(super) fn mark(&self) -> Option<Mark> {
        match self {
            Field::Missing => None,
            Field::Invalid(mark) | Field::Given(_, mark) => Some(*mark),
        }
    }

    pub(super) fn is_missing(&self) -> bool {
        matches!(self, Field::Missing)
    }

    fn from_option(value: Option<T>, mark: Mark) -> Self {
        match value {
            Some(value) => Field::Given(value, mark),
            None => Field::Invalid(mark),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Present,
    Absent,
}

/// One entry of a top-level or per-instance `apps` list.
#[derive(Debug)]
pub(crate) struct App {
    /// "app `k`", "app `k` of instance `x`", or "`apps[3]`" when it has no usable key.
    pub label: String,
    pub mark: Mark,
    pub key: Option<(AppKey, Mark)>,
    pub state: Field<State>,
    pub version: Field<VersionSpec>,
    pub enabled: Field<bool>,
    pub license: Field<LicenseSpec>,
    pub source: Field<SourceSpec>,
    pub install: Field<InstallMethod>,
    pub sha256: Field<Sha256>,
    pub allow_incompatible: Field<bool>,
    /// The app's own Marketplace hosting, overriding the instance's.
    pub hosting: Field<Hosting>,
    /// Keys of apps to install before this one, each with the mark of its value; duplicates were
    /// reported and dropped.
    pub requires: Field<Vec<(AppKey, Mark)>>,
    /// Allowed fields that unknown fields of this entry were reported as typos of.
    pub typos: Vec<&'static str>,
}

#[derive(Debug)]
pub(crate) enum LicenseSpec {
    Env(EnvName),
    File { path: String, mark: Mark },
    Absent,
}

#[derive(Debug)]
pub(crate) enum SourceSpec {
    Path { path: String, mark: Mark },
    Url(Url),
}

/// Reads the whole manifest. Returns `None` only when the root is not a mapping.
pub(crate) fn read(root: &Node, problems: &mut Problems) -> Option<Manifest> {
    Reader { problems }.manifest(root)
}

/// Which mapping an unknown field was found in, to choose its hint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Plain,
    Instance,
    Auth,
    App,
    License,
    Source,
}

struct Reader<'p> {
    problems: &'p mut Problems,
}

impl Reader<'_> {
    fn manifest(&mut self, root: &Node) -> Option<Manifest> {
        let entries = match &root.value {
            Value::Mapping(entries) => entries,
            _ if root.is_null() => {
                self.problems
                    .add(None, "the manifest is empty: it needs at least `instances`")
                    .with_hint("see docs/manifest.md or apps.yaml.example");
                return None;
            }
            _ => {
                self.problems.add(
                    Some(root.mark),
                    format!(
                        "the manifest must be a mapping with `instances` and `apps`, found {}",
                        root.kind()
                    ),
                );
                return None;
            }
        };
        let label = "the manifest";
        self.unknown_fields(entries, MANIFEST_FIELDS, label, Context::Plain);

        let marketplace_url = field(entries, "marketplace").and_then(|entry| {
            if entry.value.is_null() {
                return None;
            }
            let entries = self.mapping(entry, label)?;
            let label = "`marketplace`";
            self.unknown_fields(entries, MARKETPLACE_FIELDS, label, Context::Plain);
            field(entries, "url").and_then(|url| self.url(url, label, &["http", "https"], true))
        });

        let instances = match field(entries, "instances") {
            None => {
                self.problems
                    .add(None, "missing required field `instances` in the manifest")
                    .with_hint("list at least one instance: `name`, `url`, `product` and `auth`");
                Vec::new()
            }
            Some(entry) => match self.list(entry, label) {
                None => Vec::new(),
                Some([]) => {
                    self.problems
                        .add(Some(entry.key_mark), "`instances` is empty")
                        .with_hint(
                            "list at least one instance: `name`, `url`, `product` and `auth`",
                        );
                    Vec::new()
                }
                Some(nodes) => nodes
                    .iter()
                    .enumerate()
                    .filter_map(|(index, node)| self.instance(node, index))
                    .collect(),
            },
        };

        let apps = field(entries, "apps")
            .and_then(|entry| self.list(entry, label))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(index, node)| self.app(node, format!("`apps[{index}]`"), None))
            .collect();

        Some(Manifest {
            marketplace_url,
            instances,
            apps,
        })
    }

    fn instance(&mut self, node: &Node, index: usize) -> Option<Instance> {
        let fallback = format!("`instances[{index}]`");
        let entries = self.mapping_node(node, &fallback)?;
        let name = field(entries, "name").and_then(|entry| {
            let name = self.text(entry, &fallback)?;
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                self.problems.add(
                    Some(value_mark(entry)),
                    format!(
                        "instance name `{}` may contain only letters, digits, `.`, `_` and `-`",
                        shown(&name)
                    ),
                );
                return None;
            }
            Some((name, entry.key_mark))
        });
        let label = match &name {
            Some((name, _)) => format!("instance `{name}`"),
            None => fallback,
        };
        let typos = self.unknown_fields(entries, INSTANCE_FIELDS, &label, Context::Instance);
        if name.is_none() && field(entries, "name").is_none() {
            self.missing(&typos, "name", &label, node.mark);
        }

        let url_entry = field(entries, "url");
        let url = match url_entry {
            Some(entry) => self.url(entry, &label, &["http", "https"], true),
            None => {
                self.missing(&typos, "url", &label, node.mark);
                None
            }
        };
        let product = match field(entries, "product") {
            Some(entry) => self.choice(entry, &label, PRODUCTS),
            None => {
                self.missing(&typos, "product", &label, node.mark);
                None
            }
        };
        let hosting = match field(entries, "hosting") {
            Some(entry) => self.choice(entry, &label, HOSTINGS),
            None => Some(Hosting::Datacenter),
        };
        let auth = match field(entries, "auth") {
            Some(entry) => self.auth(entry, &label),
            None => {
                if let Some(problem) = self.missing(&typos, "auth", &label, node.mark) {
                    problem.with_hint(
                        "give `username_env` and `password_env`, or `token_env`: names of environment variables",
                    );
                }
                None
            }
        };
        let unmanaged = match field(entries, "unmanaged") {
            Some(entry) => self.choice(entry, &label, UNMANAGED),
            None => Some(UnmanagedPolicy::Ignore),
        };
        let ca_file = field(entries, "ca_file").and_then(|entry| {
            let path = self.text(entry, &label)?;
            if path.trim().is_empty() {
                self.problems.add(
                    Some(value_mark(entry)),
                    format!("`ca_file` of {label} is empty"),
                );
                return None;
            }
            Some((path, entry.value.mark))
        });
        let insecure_skip_tls_verify = match field(entries, "insecure_skip_tls_verify") {
            Some(entry) => self.choice(entry, &label, BOOLEANS),
            None => Some(false),
        };
        let allow_http = match field(entries, "allow_http") {
            Some(entry) => self.choice(entry, &label, BOOLEANS),
            None => Some(false),
        };
        if let (Some(url), Some(url_entry), Some(allow_http)) = (&url, url_entry, allow_http) {
            self.plain_http(url, url_entry, allow_http, &label);
        }
        let apps = field(entries, "apps")
            .and_then(|entry| self.list(entry, &label))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(index, node)| {
                self.app(node, format!("`apps[{index}]` of {label}"), Some(&label))
            })
            .collect();

        Some(Instance {
            label,
            name,
            url,
            product,
            hosting,
            auth,
            unmanaged,
            ca_file,
            insecure_skip_tls_verify,
            allow_http,
            apps,
        })
    }

    /// Credentials never go over plain `http://` to a host that is not loopback, unless the
    /// instance says `allow_http: true`: anyone on the network path could read them.
    fn plain_http(&mut self, url: &Url, entry: &Entry, allow_http: bool, owner: &str) {
        let transport = Transport {
            allow_http,
            ..Transport::default()
        };
        if is_plain_http_refused(url, &transport) {
            self.problems
                .add(
                    Some(value_mark(entry)),
                    format!(
                        "`url` of {owner} uses plain `http://` to `{}`, which is not loopback: the credentials would cross the network unencrypted",
                        shown(url.host_str().unwrap_or_default())
                    ),
                )
                .with_hint("use an `https://` URL, or add `allow_http: true` to the instance if you accept that risk");
        }
    }

    fn auth(&mut self, entry: &Entry, owner: &str) -> Option<Auth> {
        if let Value::Scalar { .. } = entry.value.value {
            if !entry.value.is_null() {
                self.problems
                    .add(
                        Some(value_mark(entry)),
                        format!("`auth` of {owner} must be a mapping, found text"),
                    )
                    .with_hint(AUTH_SECRET_HINT);
                return None;
            }
        }
        let entries = self.mapping(entry, owner)?;
        let label = format!("`auth` of {owner}");
        let typos = self.unknown_fields(entries, AUTH_FIELDS, &label, Context::Auth);
        let mut env_name = |name: &str| {
            field(entries, name)
                .map(|entry| self.env_name(entry, &format!("`auth.{name}` of {owner}")))
        };
        let username = env_name("username_env");
        let password = env_name("password_env");
        let token = env_name("token_env");
        let mark = entries
            .first()
            .map_or(entry.key_mark, |entry| entry.key_mark);
        match (username, password, token) {
            (None, None, Some(token)) => token.map(|token_env| Auth::Bearer { token_env }),
            (Some(username), Some(password), None) => Some(Auth::Basic {
                username_env: username?,
                password_env: password?,
            }),
            (None, None, None) => {
                self.problems
                    .add(
                        Some(mark),
                        format!("{label} needs `username_env` and `password_env`, or `token_env`"),
                    )
                    .with_hint(AUTH_SECRET_HINT);
                None
            }
            (_, _, Some(_)) => {
                self.problems
                    .add(
                        Some(mark),
                        format!(
                            "{label} has both `token_env` and `username_env`/`password_env`: use exactly one of the two forms"
                        ),
                    );
                None
            }
            (Some(_), None, None) => {
                if let Some(problem) = self.missing(&typos, "password_env", &label, mark) {
                    problem
                        .with_hint("Basic authentication needs `username_env` and `password_env`");
                }
                None
            }
            (None, Some(_), None) => {
                if let Some(problem) = self.missing(&typos, "username_env", &label, mark) {
                    problem
                        .with_hint("Basic authentication needs `username_env` and `password_env`");
                }
                None
            }
        }
    }

    /// Reads one app entry; `owner` is the instance label for per-instance entries.
    fn app(&mut self, node: &Node, fallback: String, owner: Option<&str>) -> Option<App> {
        let entries = self.mapping_node(node, &fallback)?;
        let key = field(entries, "key").and_then(|entry| {
            let key = self.text(entry, &fallback)?;
            let key = self.app_key(&key, value_mark(entry), "an app key")?;
            Some((key, entry.key_mark))
        });
        let label = match (&key, owner) {
            (Some((key, _)), Some(owner)) => format!("app `{key}` of {owner}"),
            (Some((key, _)), None) => format!("app `{key}`"),
            (None, _) => fallback,
        };
        let typos = self.unknown_fields(entries, APP_FIELDS, &label, Context::App);
        if field(entries, "key").is_none() {
            self.missing(&typos, "key", &label, node.mark);
        }

        let state = self.app_field(entries, "state", |reader, entry| {
            reader.choice(entry, &label, STATES)
        });
        let version = self.app_field(entries, "version", |reader, entry| {
            reader.version(entry, &label)
        });
        let enabled = self.app_field(entries, "enabled", |reader, entry| {
            reader.choice(entry, &label, BOOLEANS)
        });
        let license = self.app_field(entries, "license", |reader, entry| {
            reader.license(entry, &label)
        });
        let source = self.app_field(entries, "source", |reader, entry| {
            reader.source(entry, &label)
        });
        let install = self.app_field(entries, "install", |reader, entry| {
            reader.choice(entry, &label, INSTALL_METHODS)
        });
        let sha256 = self.app_field(entries, "sha256", |reader, entry| {
            reader.sha256(entry, &label)
        });
        let allow_incompatible = self.app_field(entries, "allow_incompatible", |reader, entry| {
            reader.choice(entry, &label, BOOLEANS)
        });
        let hosting = self.app_field(entries, "hosting", |reader, entry| {
            reader.choice(entry, &label, HOSTINGS)
        });
        let requires = self.app_field(entries, "requires", |reader, entry| {
            reader.requires(entry, &label)
        });

        if let Field::Given(State::Absent, state_mark) = state {
            let written = [
                ("version", version.mark()),
                ("enabled", enabled.mark()),
                ("license", license.mark()),
                ("source", source.mark()),
                ("install", install.mark()),
                ("sha256", sha256.mark()),
                ("allow_incompatible", allow_incompatible.mark()),
                ("hosting", hosting.mark()),
            ];
            for (name, mark) in written {
                if let Some(mark) = mark {
                    self.problems
                        .add(
                            Some(mark),
                            format!(
                                "`{name}` has no meaning for an absent app: {label} has `state: absent` (line {})",
                                state_mark.line
                            ),
                        )
                        .with_hint(format!(
                            "remove `{name}`, or remove `state: absent` to install the app"
                        ));
                }
            }
        }
        // A per-instance entry may inherit its version, so only `validate` knows whether it lacks one.
        if owner.is_none()
            && version.is_missing()
            && matches!(state, Field::Missing | Field::Given(State::Present, _))
        {
            if let Some(problem) = self.missing(&typos, "version", &label, node.mark) {
                problem.with_hint(VERSION_FORMS_HINT);
            }
        }

        Some(App {
            label,
            mark: node.mark,
            key,
            state,
            version,
            enabled,
            license,
            source,
            install,
            sha256,
            allow_incompatible,
            hosting,
            requires,
            typos,
        })
    }

    /// Checks an app key as written in `key` or `requires` (`what` names which, for messages).
    fn app_key(&mut self, key: &str, mark: Mark, what: &str) -> Option<AppKey> {
        let problem = if key.trim().is_empty() {
            Some(format!("{what} must not be empty"))
        } else if key.chars().any(char::is_whitespace) {
            Some(format!("{what} must not contain whitespace"))
        } else if key.contains('/') {
            Some(format!("{what} must not contain `/`"))
        } else {
            None
        };
        if let Some(problem) = problem {
            self.problems
                .add(Some(mark), format!("{problem}, found `{}`", shown(key)))
                .with_hint(
                    "the key is the app's plugin key, e.g. `com.onresolve.jira.groovy.groovyrunner`",
                );
            return None;
        }
        if let Some(stem) = upm_path_key(key) {
            self.problems
                .add(
                    Some(mark),
                    // In full, unlike most values: cut at 40 characters, the suffix would not show.
                    format!(
                        "{what} `{key}` ends in `-key`, the suffix UPM adds to a key in its REST paths"
                    ),
                )
                .with_hint(format!(
                    "write the plugin key without the suffix: `{stem}`"
                ));
            return None;
        }
        Some(AppKey::new(key))
    }

    /// `requires`: a list of app keys, each at most once.
    fn requires(&mut self, entry: &Entry, owner: &str) -> Option<Vec<(AppKey, Mark)>> {
        let nodes = match &entry.value.value {
            _ if entry.value.is_null() => return Some(Vec::new()),
            Value::Sequence(nodes) => nodes,
            _ => {
                let problem = self.problems.add(
                    Some(value_mark(entry)),
                    format!(
                        "`requires` of {owner} must be a list of app keys, found {}",
                        entry.value.kind()
                    ),
                );
                if matches!(entry.value.value, Value::Scalar { .. }) {
                    problem
                        .with_hint("write a list, even of one key: `requires: [com.example.base]`");
                }
                return None;
            }
        };
        let mut keys: Vec<(AppKey, Mark)> = Vec::new();
        let mut valid = true;
        for node in nodes {
            let text = match &node.value {
                Value::Scalar { text, .. } if !node.is_null() => text,
                _ => {
                    self.problems.add(
                        Some(node.mark),
                        format!(
                            "an entry of `requires` of {owner} must be an app key, found {}",
                            node.kind()
                        ),
                    );
                    valid = false;
                    continue;
                }
            };
            let Some(key) = self.app_key(text, node.mark, "a key in `requires`") else {
                valid = false;
                continue;
            };
            if let Some((_, first)) = keys.iter().find(|(earlier, _)| *earlier == key) {
                self.problems.add(
                    Some(node.mark),
                    format!(
                        "`requires` of {owner} names `{key}` twice (first at line {}, column {})",
                        first.line, first.column
                    ),
                );
                valid = false;
                continue;
            }
            keys.push((key, node.mark));
        }
        valid.then_some(keys)
    }

    fn app_field<T>(
        &mut self,
        entries: &[Entry],
        name: &str,
        read: impl FnOnce(&mut Self, &Entry) -> Option<T>,
    ) -> Field<T> {
        match field(entries, name) {
            None => Field::Missing,
            Some(entry) => Field::from_option(read(self, entry), entry.key_mark),
        }
    }

    /// Reads `latest`, an exact version or a constraint. The text is read as written, so a plain
    /// `1.10` stays `1.10`.
    fn version(&mut self, entry: &Entry, owner: &str) -> Option<VersionSpec> {
        let text = self.text(entry, owner)?;
        let mark = Some(value_mark(entry));
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("latest") && trimmed != "latest" {
            // The plugin framework would take `Latest` as an exact version that never exists.
            self.problems
                .add(
                    mark,
                    format!("`version` of {owner} is `{}`, not `latest`", shown(trimmed)),
                )
                .with_hint("write `latest` in lower case");
            return None;
        }
        match VersionSpec::parse(&text) {
            Ok(version) => Some(version),
            Err(error) => {
                let hint = if text.trim().is_empty() {
                    // `version: >8` is an empty YAML block with indentation 8, not a constraint.
                    format!("{VERSION_FORMS_HINT}; unquoted, `version: >8` is an empty YAML block")
                } else {
                    VERSION_FORMS_HINT.to_string()
                };
                self.problems
                    .add(
                        mark,
                        format!(
                            "invalid version `{}` of {owner}: {}",
                            shown(&error.text),
                            error.reason
                        ),
                    )
                    .with_hint(hint);
                None
            }
        }
    }

    /// Reads a SHA-256 digest: 64 hex digits, optionally prefixed `sha256:`.
    fn sha256(&mut self, entry: &Entry, owner: &str) -> Option<Sha256> {
        let text = self.text(entry, owner)?;
        if let Some(digest) = Sha256::parse(&text) {
            return Some(digest);
        }
        let digits = text.trim();
        let digits = digits.strip_prefix("sha256:").unwrap_or(digits);
        let found = match digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            Some(c) => format!("`{}`, which is not a hex digit", shown(&c.to_string())),
            None => format!("{} hex digits", digits.chars().count()),
        };
        self.problems
            .add(
                Some(value_mark(entry)),
                format!(
                    "`sha256` of {owner} must be 64 hex digits, optionally prefixed `sha256:`; found {found}"
                ),
            )
            .with_hint("the SHA-256 of the artifact file, as `sha256sum app.jar` prints it");
        None
    }

    fn license(&mut self, entry: &Entry, owner: &str) -> Option<LicenseSpec> {
        let label = format!("`license` of {owner}");
        match &entry.value.value {
            Value::Scalar { text, .. } if text == "absent" => return Some(LicenseSpec::Absent),
            Value::Scalar { .. } => {
                // Never echo the value: it may be the license itself.
                self.problems
                    .add(
                        Some(value_mark(entry)),
                        format!("{label} must be `absent` or a mapping with `env` or `file`"),
                    )
                    .with_hint(LICENSE_SECRET_HINT);
                return None;
            }
            Value::Sequence(_) | Value::Mapping(_) => {}
        }
        let entries = self.mapping(entry, owner)?;
        self.unknown_fields(entries, LICENSE_FIELDS, &label, Context::License);
        let env = field(entries, "env")
            .map(|entry| self.env_name(entry, &format!("`license.env` of {owner}")));
        let file = field(entries, "file").map(|entry| {
            self.text(entry, &label).and_then(|path| {
                if path.trim().is_empty() {
                    self.problems.add(
                        Some(value_mark(entry)),
                        format!("`file` of {label} is empty"),
                    );
                    return None;
                }
                Some(LicenseSpec::File {
                    path,
                    mark: entry.value.mark,
                })
            })
        });
        let mark = entries
            .first()
            .map_or(entry.key_mark, |entry| entry.key_mark);
        match (env, file) {
            (Some(env), None) => env.map(LicenseSpec::Env),
            (None, Some(file)) => file,
            (Some(_), Some(_)) => {
                self.problems.add(
                    Some(mark),
                    format!("{label} has both `env` and `file`: give exactly one"),
                );
                None
            }
            (None, None) => {
                // An unknown field was reported already, with the allowed ones.
                if entries.is_empty() {
                    self.problems
                        .add(Some(mark), format!("{label} needs `env` or `file`"))
                        .with_hint(LICENSE_SECRET_HINT);
                }
                None
            }
        }
    }

    fn source(&mut self, entry: &Entry, owner: &str) -> Option<SourceSpec> {
        let label = format!("`source` of {owner}");
        let entries = self.mapping(entry, owner)?;
        self.unknown_fields(entries, SOURCE_FIELDS, &label, Context::Source);
        let path = field(entries, "path").map(|entry| {
            self.text(entry, &label).and_then(|path| {
                if path.trim().is_empty() {
                    self.problems.add(
                        Some(value_mark(entry)),
                        format!("`path` of {label} is empty"),
                    );
                    return None;
                }
                Some(SourceSpec::Path {
                    path,
                    mark: entry.value.mark,
                })
            })
        });
        let url = field(entries, "url").map(|entry| {
            self.url(entry, &label, &["http", "https", "file"], false)
                .map(SourceSpec::Url)
        });
        let mark = entries
            .first()
            .map_or(entry.key_mark, |entry| entry.key_mark);
        match (path, url) {
            (Some(path), None) => path,
            (None, Some(url)) => url,
            (Some(_), Some(_)) => {
                self.problems.add(
                    Some(mark),
                    format!("{label} has both `path` and `url`: give exactly one"),
                );
                None
            }
            (None, None) => {
                // An unknown field was reported already, with the allowed ones.
                if entries.is_empty() {
                    self.problems
                        .add(Some(mark), format!("{label} needs `path` or `url`"))
                        .with_hint("leave `source` out to install from the Marketplace");
                }
                None
            }
        }
    }

    /// Reads a URL with one of `schemes`. Instance and Marketplace URLs (`base`) get a trailing `/`
    /// so joins keep the context path, and may not carry a query or fragment.
    fn url(&mut self, entry: &Entry, owner: &str, schemes: &[&str], base: bool) -> Option<Url> {
        let text = self.text(entry, owner)?;
        let what = format!("`{}` of {owner}", entry.key);
        let mark = Some(value_mark(entry));
        let allowed = schemes
            .iter()
            .map(|scheme| format!("`{scheme}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut url = match Url::parse(text.trim()) {
            Ok(url) => url,
            Err(error) => {
                // The text is not shown: a malformed URL may still hold credentials.
                let problem = self
                    .problems
                    .add(mark, format!("{what} is not a valid URL: {error}"));
                if error == url::ParseError::RelativeUrlWithoutBase {
                    problem.with_hint(format!("write an absolute URL starting with one of {allowed}, e.g. `https://jira.example.com`"));
                }
                return None;
            }
        };
        if !schemes.contains(&url.scheme()) {
            self.problems.add(
                mark,
                format!(
                    "{what} must use one of {allowed}, found `{}`",
                    shown(url.scheme())
                ),
            );
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problems
                .add(mark, format!("{what} contains credentials"))
                .with_hint(
                    "secrets are never written in the manifest: remove the `user:password@` part",
                );
            return None;
        }
        if base && (url.query().is_some() || url.fragment().is_some()) {
            self.problems.add(
                mark,
                format!("{what} must not have a query (`?`) or fragment (`#`)"),
            );
            return None;
        }
        if base && !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Some(url)
    }

    fn env_name(&mut self, entry: &Entry, used_by: &str) -> Option<EnvName> {
        let name = self.text(entry, used_by)?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            // Not shown: a value here that is not a variable name is likely the secret itself.
            let hint = if used_by.starts_with("`license") {
                LICENSE_SECRET_HINT
            } else {
                AUTH_SECRET_HINT
            };
            self.problems
                .add(
                    Some(value_mark(entry)),
                    format!("{used_by} must be the name of an environment variable (letters, digits and `_`)"),
                )
                .with_hint(hint);
            return None;
        }
        Some(EnvName {
            name,
            mark: entry.value.mark,
            used_by: used_by.to_string(),
        })
    }

    /// Reads a scalar as text. Plain numbers and booleans keep their text as written.
    fn text(&mut self, entry: &Entry, owner: &str) -> Option<String> {
        match &entry.value.value {
            _ if entry.value.is_null() => {
                self.problems.add(
                    Some(entry.key_mark),
                    format!("`{}` of {owner} is empty", entry.key),
                );
                None
            }
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.problems.add(
                    Some(value_mark(entry)),
                    format!(
                        "`{}` of {owner} must be text, found {}",
                        entry.key,
                        entry.value.kind()
                    ),
                );
                None
            }
        }
    }

    fn choice<T: Copy>(&mut self, entry: &Entry, owner: &str, options: &[(&str, T)]) -> Option<T> {
        let allowed = options
            .iter()
            .map(|(name, _)| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let found = match &entry.value.value {
            _ if entry.value.is_null() => "nothing".to_string(),
            Value::Scalar { text, .. } => {
                if let Some((_, value)) = options.iter().find(|(name, _)| name == text) {
                    return Some(*value);
                }
                format!("`{}`", shown(text))
            }
            _ => entry.value.kind().to_string(),
        };
        let problem = self.problems.add(
            Some(value_mark(entry)),
            format!(
                "`{}` of {owner} must be one of {allowed}, found {found}",
                entry.key
            ),
        );
        if let Value::Scalar { text, .. } = &entry.value.value {
            if let Some(near) = suggest(text, options.iter().map(|(name, _)| *name)) {
                problem.with_hint(format!("did you mean `{near}`?"));
            }
        }
        None
    }

    /// A list; null reads as an empty list.
    fn list<'n>(&mut self, entry: &'n Entry, owner: &str) -> Option<&'n [Node]> {
        match &entry.value.value {
            _ if entry.value.is_null() => Some(&[]),
            Value::Sequence(items) => Some(items),
            _ => {
                self.problems.add(
                    Some(value_mark(entry)),
                    format!(
                        "`{}` of {owner} must be a list, found {}",
                        entry.key,
                        entry.value.kind()
                    ),
                );
                None
            }
        }
    }

    fn mapping<'n>(&mut self, entry: &'n Entry, owner: &str) -> Option<&'n [Entry]> {
        match &entry.value.value {
            Value::Mapping(entries) => Some(entries),
            _ => {
                self.problems.add(
                    Some(value_mark(entry)),
                    format!(
                        "`{}` of {owner} must be a mapping, found {}",
                        entry.key,
                        entry.value.kind()
                    ),
                );
                None
            }
        }
    }

    fn mapping_node<'n>(&mut self, node: &'n Node, label: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Mapping(entries) => Some(entries),
            _ => {
                self.problems.add(
                    Some(node.mark),
                    format!("{label} must be a mapping of fields, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// Reports a missing required field, unless an unknown field was reported as its typo.
    fn missing(
        &mut self,
        typos: &[&str],
        name: &str,
        owner: &str,
        mark: Mark,
    ) -> Option<&mut super::Problem> {
        if typos.contains(&name) {
            return None;
        }
        Some(self.problems.add(
            Some(mark),
            format!("missing required field `{name}` in {owner}"),
        ))
    }

    /// Reports every field not in `allowed`; returns the allowed names they look like typos of.
    fn unknown_fields(
        &mut self,
        entries: &[Entry],
        allowed: &'static [&'static str],
        owner: &str,
        context: Context,
    ) -> Vec<&'static str> {
        let mut typos = Vec::new();
        for entry in entries {
            if allowed.contains(&entry.key.as_str()) {
                continue;
            }
            let expected = allowed
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let problem = self.problems.add(
                Some(entry.key_mark),
                format!(
                    "unknown field {} in {owner}, expected one of {expected}",
                    shown_key(&entry.key)
                ),
            );
            if let Some(hint) = secret_hint(&entry.key, context) {
                problem.with_hint(hint);
            } else if let Some(hint) = misplaced_hint(&entry.key, context) {
                problem.with_hint(hint);
            } else if let Some(near) = suggest(&entry.key, allowed.iter().copied()) {
                problem.with_hint(format!("did you mean `{near}`?"));
                typos.push(near);
            }
        }
        typos
    }
}

/// Where a value is, for messages: an empty value is marked at whatever follows it, so use its key.
fn value_mark(entry: &Entry) -> Mark {
    if entry.value.is_null() {
        entry.key_mark
    } else {
        entry.value.mark
    }
}

fn field<'n>(entries: &'n [Entry], name: &str) -> Option<&'n Entry> {
    entries.iter().find(|entry| entry.key == name)
}

/// The key without UPM's `-key` path suffix, when `key` looks like one pasted from a UPM URL
/// (`/rest/plugins/1.0/com.example.app-key`): it ends in `-key` and what comes before looks like a
/// full plugin key (it has a `.`).
// guess: no Marketplace app key is known to end in `-key`; a real one with a `.` before the suffix
// cannot be managed (refusing the common mistake is worth more). `my-key` (no `.`) is taken as is.
fn upm_path_key(key: &str) -> Option<&str> {
    key.strip_suffix("-key")
        .filter(|stem| stem.contains('.') && !stem.ends_with('.') && !stem.starts_with('.'))
}

/// The hint for an unknown field that looks like someone wrote a secret into the manifest.
fn secret_hint(name: &str, context: Context) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let license_like = name.contains("licen")
        && ["key", "text", "raw", "value"]
            .iter()
            .any(|part| name.contains(part));
    let credential_like = [
        "pass", "pwd", "token", "secret", "user", "cred", "apikey", "api_key",
    ]
    .iter()
    .any(|part| name.contains(part));
    match context {
        Context::License => Some(LICENSE_SECRET_HINT),
        Context::App if license_like => Some(LICENSE_SECRET_HINT),
        Context::Auth | Context::Instance | Context::App | Context::Plain | Context::Source
            if credential_like =>
        {
            Some(AUTH_SECRET_HINT)
        }
        _ if license_like => Some(LICENSE_SECRET_HINT),
        _ => None,
    }
}

/// The hint for a field written one level off: an app field inside `source`, an instance field in
/// an app entry, or an app field on an instance.
fn misplaced_hint(name: &str, context: Context) -> Option<String> {
    match context {
        Context::Source if matches!(name, "sha256" | "install") => Some(format!(
            "`{name}` is a field of the app entry, not of `source`: write it next to `source`"
        )),
        Context::App if matches!(name, "ca_file" | "insecure_skip_tls_verify" | "allow_http") => {
            Some(format!(
                "`{name}` is a field of the instance: write it next to the instance's `url`"
            ))
        }
        Context::Instance
            if matches!(
                name,
                "version" | "install" | "sha256" | "allow_incompatible" | "enabled" | "license"
            ) =>
        {
            Some(format!(
                "`{name}` is a field of an app entry: write it under an entry of `apps`"
            ))
        }
        _ => None,
    }
}

/// The allowed name closest to `word` (ignoring case), if it is close enough to be a typo.
fn suggest<'a>(word: &str, options: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    options
        // Optimal string alignment counts a swap of neighbours as one edit, so `verison` is
        // one edit from `version`; it counts characters, not bytes.
        .map(|option| (strsim::osa_distance(&word, option), option))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, option)| option)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let fields = APP_FIELDS.iter().copied();
        assert_eq!(suggest("verison", fields.clone()), Some("version"));
        assert_eq!(suggest("Enable", fields.clone()), Some("enabled"));
        assert_eq!(suggest("licence", fields.clone()), Some("license"));
        assert_eq!(suggest("colour", fields.clone()), None);
        assert_eq!(suggest("ulr", ["url", "path"].into_iter()), Some("url"));
        assert_eq!(suggest("ä", ["a", "bc"].into_iter()), Some("a"));
        assert_eq!(
            suggest("Jira", PRODUCTS.iter().map(|(name, _)| *name)),
            Some("jira")
        );
    }

    #[test]
    fn secret_hints_for_secret_looking_fields() {
        assert!(secret_hint("password", Context::Instance).is_some());
        assert!(secret_hint("token", Context::Auth).is_some());
        assert!(secret_hint("text", Context::License).is_some());
        assert!(secret_hint("license_key", Context::App).is_some());
        assert!(secret_hint("verison", Context::App).is_none());
    }
}
