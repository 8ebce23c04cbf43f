//! Checks what spans entries (duplicate names and keys), reads environment variables and files,
//! and merges per-instance app entries over the top-level ones into a [`Desired`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use url::Url;

use super::schema::{
    App, Auth, EnvName, Field, Instance, LicenseSpec, Manifest, SourceSpec, State,
};
use super::tree::Mark;
use super::{LoadOptions, Problems};
use crate::artifact;
use crate::files::{self, FileError};
use crate::http::tls::{self as transport, CaFileError};
use crate::model::{
    AppKey, Credentials, Desired, DesiredApp, DesiredInstance, DesiredLicense, DesiredState,
    Hosting, InstallMethod, License, PresentApp, Secret, Source, Transport,
};
use crate::version::VersionSpec;

/// The public Marketplace, where apps come from and versions are published to by default.
pub const DEFAULT_MARKETPLACE: &str = "https://marketplace.atlassian.com/";

/// A license is a few kilobytes; a file much larger than this was named by mistake.
const MAX_LICENSE_BYTES: u64 = 64 * 1024;

/// Validates across entries, resolves secrets and files, and merges. Returns `None` only if
/// nothing can be built; the caller still refuses the result when any problem was recorded.
pub(crate) fn validate(
    manifest: &Manifest,
    path: &Path,
    options: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<Desired> {
    let mut validator = Validator {
        base: base_directory(path),
        options,
        secrets_required: options.require_secrets,
        env,
        problems,
    };
    validator.check_instance_names(&manifest.instances);
    validator.check_selection(&manifest.instances);
    let top = validator.entries(&manifest.apps, "the top-level `apps`");
    let mut instances = Vec::new();
    for instance in &manifest.instances {
        let selected = options.instances.is_empty()
            || instance
                .name
                .as_ref()
                .is_some_and(|(name, _)| options.instances.contains(name));
        if !selected {
            // Structure is still checked; the secrets of instances not selected are not needed
            // (per-environment CI credentials), and the instance is left out of `Desired`.
            validator.secrets_required = false;
        }
        let own = validator.entries(&instance.apps, &format!("`apps` of {}", instance.label));
        let credentials = instance
            .auth
            .as_ref()
            .and_then(|auth| validator.credentials(auth));
        let apps = validator.merge(&top, &own, &instance.label, instance.hosting);
        let transport = validator.transport(instance);
        if let (
            Some((name, _)),
            Some(url),
            Some(product),
            Some(hosting),
            Some(credentials),
            Some(unmanaged),
            Some(apps),
            Some(transport),
        ) = (
            &instance.name,
            &instance.url,
            instance.product,
            instance.hosting,
            credentials,
            instance.unmanaged,
            apps,
            transport,
        ) {
            if selected {
                instances.push(DesiredInstance {
                    name: name.clone(),
                    url: url.clone(),
                    product,
                    hosting,
                    transport,
                    credentials,
                    unmanaged,
                    apps,
                });
            }
        }
        validator.secrets_required = options.require_secrets;
    }
    let marketplace_url = match &manifest.marketplace_url {
        Some(url) => url.clone(),
        None => Url::parse(DEFAULT_MARKETPLACE).ok()?,
    };
    Some(Desired {
        manifest_path: path.to_path_buf(),
        marketplace_url,
        instances,
    })
}

/// The folder relative paths resolve against: the manifest's own, made absolute.
fn base_directory(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// An app entry with its license and source read.
struct Resolved<'m> {
    app: &'m App,
    license: Field<DesiredLicense>,
    source: Field<Source>,
}

struct Validator<'a> {
    base: PathBuf,
    options: &'a LoadOptions,
    /// Whether missing secrets are problems for what is being read now.
    secrets_required: bool,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: &'a mut Problems,
}

impl<'m> Validator<'_> {
    /// Every name given to `--instance` must be an instance of the manifest.
    fn check_selection(&mut self, instances: &[Instance]) {
        let known: Vec<&str> = instances
            .iter()
            .filter_map(|instance| instance.name.as_ref().map(|(name, _)| name.as_str()))
            .collect();
        for wanted in &self.options.instances {
            if !known.contains(&wanted.as_str()) {
                self.problems
                    .add(
                        None,
                        format!("no instance named `{wanted}` (from `--instance`)"),
                    )
                    .with_hint(format!("the manifest has: {}", known.join(", ")));
            }
        }
    }

    fn check_instance_names(&mut self, instances: &[Instance]) {
        let mut first: HashMap<&str, Mark> = HashMap::new();
        for (name, mark) in instances
            .iter()
            .filter_map(|instance| instance.name.as_ref())
        {
            if let Some(earlier) = first.get(name.as_str()) {
                self.problems.add(
                    Some(*mark),
                    format!(
                        "duplicate instance name `{name}` (first at line {})",
                        earlier.line
                    ),
                );
            } else {
                first.insert(name, *mark);
            }
        }
    }

    /// One list's entries by key, duplicates reported and dropped, licenses and sources read.
    fn entries(&mut self, apps: &'m [App], list: &str) -> BTreeMap<AppKey, Resolved<'m>> {
        let mut entries: BTreeMap<AppKey, Resolved<'m>> = BTreeMap::new();
        for app in apps {
            let Some((key, mark)) = &app.key else {
                continue;
            };
            if let Some(earlier) = entries.get(key) {
                let line = earlier
                    .app
                    .key
                    .as_ref()
                    .map_or(earlier.app.mark.line, |(_, mark)| mark.line);
                self.problems.add(
                    Some(*mark),
                    format!("duplicate app `{key}` in {list} (first at line {line})"),
                );
                continue;
            }
            // An absent entry's license and source were reported as meaningless; do not read them.
            let absent = matches!(app.state, Field::Given(State::Absent, _));
            let license = if absent {
                Field::Missing
            } else {
                self.license(app)
            };
            let source = if absent {
                Field::Missing
            } else {
                self.source(app)
            };
            entries.insert(
                key.clone(),
                Resolved {
                    app,
                    license,
                    source,
                },
            );
        }
        entries
    }

    fn license(&mut self, app: &App) -> Field<DesiredLicense> {
        match &app.license {
            Field::Missing => Field::Missing,
            Field::Invalid(mark) => Field::Invalid(*mark),
            Field::Given(spec, mark) => {
                // Commands that never send a license (`lock`, `outdated`) do not need it present.
                let required = self.secrets_required;
                if !self.options.require_licenses {
                    self.secrets_required = false;
                }
                let license = match spec {
                    LicenseSpec::Absent => Some(DesiredLicense::Absent),
                    LicenseSpec::Env(name) => self.secret(name, true).map(|text| {
                        DesiredLicense::Present(License::new(
                            Secret::new(text),
                            format!("env {}", name.name),
                        ))
                    }),
                    LicenseSpec::File { path, mark } => self.license_file(path, *mark, &app.label),
                };
                self.secrets_required = required;
                match license {
                    Some(license) => Field::Given(license, *mark),
                    None => Field::Invalid(*mark),
                }
            }
        }
    }

    /// Reads a license file. Messages name the file and the OS error, never the content.
    fn license_file(&mut self, written: &str, mark: Mark, owner: &str) -> Option<DesiredLicense> {
        let full = self.base.join(written);
        let what = format!("license file `{written}` of {owner}");
        let place = full.display();
        // The same read `apply` uses (this is where apply reads it): a regular file, capped
        // while reading, never blocking on a FIFO or device.
        let bytes = match files::read_capped(&full, MAX_LICENSE_BYTES) {
            Ok(bytes) => bytes,
            // License files are secrets too, often mounted only where apply runs: without
            // `require_secrets` (validate --skip-secrets) a missing one is not a problem. One
            // that exists is checked in full either way.
            Err(FileError::Io(error))
                if !self.secrets_required && error.kind() == std::io::ErrorKind::NotFound =>
            {
                return Some(DesiredLicense::Present(License::new(
                    Secret::new(""),
                    format!("file {written}"),
                )));
            }
            Err(FileError::NotRegular(kind)) => {
                self.problems.add(
                    Some(mark),
                    format!("{what} is a {kind}, not a regular file (`{place}`)"),
                );
                return None;
            }
            Err(FileError::TooLarge { limit }) => {
                self.problems.add(
                    Some(mark),
                    format!(
                        "{what} is larger than a license ({} KiB at most)",
                        limit / 1024
                    ),
                );
                return None;
            }
            Err(error) => {
                let problem = self.problems.add(
                    Some(mark),
                    format!("cannot read {what} (`{place}`): {error}"),
                );
                if matches!(error, FileError::Io(_)) {
                    problem.with_hint("relative paths are relative to the manifest's folder");
                }
                return None;
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            self.problems.add(
                Some(mark),
                format!("cannot read {what} (`{place}`): it is not UTF-8 text"),
            );
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            self.problems.add(Some(mark), format!("{what} is empty"));
            return None;
        }
        Some(DesiredLicense::Present(License::new(
            Secret::new(text),
            format!("file {written}"),
        )))
    }

    fn source(&mut self, app: &App) -> Field<Source> {
        match &app.source {
            Field::Missing => Field::Missing,
            Field::Invalid(mark) => Field::Invalid(*mark),
            Field::Given(SourceSpec::Url(url), mark) => {
                Field::Given(Source::Url(url.clone()), *mark)
            }
            Field::Given(
                SourceSpec::Path {
                    path,
                    mark: path_mark,
                },
                mark,
            ) => match self.source_file(path, *path_mark, &app.label) {
                Some(full) => Field::Given(Source::Path(full), *mark),
                None => Field::Invalid(*mark),
            },
        }
    }

    /// Checks that an artifact is a regular file that reads whole within the artifact cap.
    fn source_file(&mut self, written: &str, mark: Mark, owner: &str) -> Option<PathBuf> {
        let full = self.base.join(written);
        let what = format!("source file `{written}` of {owner}");
        let place = full.display();
        // Read (hashed) in full exactly as apply reads it before an upload, so a device, FIFO,
        // `/proc` file or oversized file fails here rather than hanging or failing mid-apply.
        match artifact::hash_file(&full) {
            Ok(_) => Some(full),
            Err(FileError::NotRegular(kind)) => {
                self.problems.add(
                    Some(mark),
                    format!("{what} is a {kind}, not a regular file (`{place}`)"),
                );
                None
            }
            Err(error) => {
                let problem = self.problems.add(
                    Some(mark),
                    format!("cannot read {what} (`{place}`): {error}"),
                );
                if matches!(error, FileError::Io(_)) {
                    problem.with_hint("relative paths are relative to the manifest's folder");
                }
                None
            }
        }
    }

    /// An instance's TLS and plain-HTTP settings, with its `ca_file` read and checked. `None`
    /// when some setting was invalid (each recorded a problem).
    fn transport(&mut self, instance: &Instance) -> Option<Transport> {
        let ca_file = match &instance.ca_file {
            Some((written, mark)) => Some(self.ca_file(written, *mark, &instance.label)?),
            None => None,
        };
        Some(Transport {
            ca_file,
            insecure_skip_tls_verify: instance.insecure_skip_tls_verify?,
            allow_http: instance.allow_http?,
        })
    }

    /// Checks that a CA file can be read and holds at least one PEM certificate. Its content is
    /// public, so the reason may quote what the parser says.
    fn ca_file(&mut self, written: &str, mark: Mark, owner: &str) -> Option<PathBuf> {
        let full = self.base.join(written);
        match transport::read_ca_file(&full) {
            Ok(_) => Some(full),
            Err(error) => {
                // A problem is one line: an unreadable certificate names why after the error.
                let detail = match &error {
                    CaFileError::Invalid(cause) => format!("{error}: {cause}"),
                    CaFileError::File(_) | CaFileError::NoCertificate => error.to_string(),
                };
                let problem = self.problems.add(
                    Some(mark),
                    format!(
                        "cannot use `ca_file` `{written}` of {owner} (`{}`): {detail}",
                        full.display()
                    ),
                );
                match error {
                    CaFileError::File(FileError::Io(_)) => {
                        problem.with_hint("relative paths are relative to the manifest's folder");
                    }
                    CaFileError::NoCertificate | CaFileError::Invalid(_) | CaFileError::File(_) => {
                        problem.with_hint(
                            "name a PEM file with the CA certificates that signed the instance's certificate",
                        );
                    }
                }
                None
            }
        }
    }

    fn credentials(&mut self, auth: &Auth) -> Option<Credentials> {
        match auth {
            Auth::Basic {
                username_env,
                password_env,
            } => {
                let username = self.secret(username_env, false);
                let password = self.secret(password_env, false);
                Some(Credentials::Basic {
                    username: username?,
                    password: Secret::new(password?),
                })
            }
            Auth::Bearer { token_env } => Some(Credentials::Bearer {
                token: Secret::new(self.secret(token_env, false)?),
            }),
        }
    }

    /// Reads an environment variable. Missing or blank is a problem unless secrets are not
    /// required, when it reads as empty.
    fn secret(&mut self, name: &EnvName, trim: bool) -> Option<String> {
        let value = (self.env)(&name.name);
        match value {
            Some(value) if !value.trim().is_empty() => Some(if trim {
                value.trim().to_string()
            } else {
                value
            }),
            _ if !self.secrets_required => Some(String::new()),
            found => {
                let state = if found.is_some() {
                    "is empty"
                } else {
                    "is not set"
                };
                self.problems
                    .add(
                        Some(name.mark),
                        format!(
                            "environment variable `{}` {state} ({})",
                            name.name, name.used_by
                        ),
                    )
                    .with_hint(format!("export {}=… before running upmsync", name.name));
                None
            }
        }
    }

    /// Merges one instance's entries over the top-level ones, field by field, and checks their
    /// `requires`. `None` when some app could not be built (each such app recorded a problem).
    ///
    /// Positions count the top-level entries in their order, then the instance's own entries that
    /// are not in the top-level list, in theirs.
    fn merge(
        &mut self,
        top: &BTreeMap<AppKey, Resolved<'_>>,
        own: &BTreeMap<AppKey, Resolved<'_>>,
        instance: &str,
        hosting: Option<Hosting>,
    ) -> Option<BTreeMap<AppKey, DesiredApp>> {
        let mut keys: Vec<&AppKey> = in_list_order(top);
        keys.extend(
            in_list_order(own)
                .into_iter()
                .filter(|key| !top.contains_key(*key)),
        );
        let mut apps = BTreeMap::new();
        let mut complete = true;
        let mut graph = Vec::new();
        for (position, key) in keys.iter().enumerate() {
            let (top, own) = (top.get(*key), own.get(*key));
            let requires = pick(
                own.map(|entry| &entry.app.requires),
                top.map(|entry| &entry.app.requires),
            );
            let requires = match requires {
                Some(Field::Given(requires, _)) => {
                    let label = match own.filter(|own| !own.app.requires.is_missing()) {
                        Some(own) => own.app.label.clone(),
                        None => top.map_or(String::new(), |top| top.app.label.clone()),
                    };
                    graph.push(Requiring {
                        key,
                        label,
                        requires,
                    });
                    requires.iter().map(|(key, _)| key.clone()).collect()
                }
                Some(Field::Invalid(_)) => {
                    complete = false;
                    Vec::new()
                }
                None | Some(Field::Missing) => Vec::new(),
            };
            match self.merge_app(top, own, instance, hosting) {
                Some(state) => {
                    apps.insert(
                        (*key).clone(),
                        DesiredApp {
                            key: (*key).clone(),
                            state,
                            position,
                            requires,
                        },
                    );
                }
                None => complete = false,
            }
        }
        let absent: BTreeSet<&AppKey> = keys
            .iter()
            .copied()
            .filter(|key| {
                let state = pick(
                    own.get(*key).map(|entry| &entry.app.state),
                    top.get(*key).map(|entry| &entry.app.state),
                );
                matches!(state, Some(Field::Given(State::Absent, _)))
            })
            .collect();
        complete &= self.check_requires(&graph, &keys, &absent, instance);
        complete.then_some(apps)
    }

    /// Every `requires` names another app of the instance (after merging) that is not absent, and
    /// no app requires itself through others. Returns whether all is well.
    fn check_requires(
        &mut self,
        graph: &[Requiring<'_>],
        keys: &[&AppKey],
        absent: &BTreeSet<&AppKey>,
        instance: &str,
    ) -> bool {
        let known: BTreeSet<&AppKey> = keys.iter().copied().collect();
        let mut fine = true;
        for app in graph {
            for (required, mark) in app.requires {
                if required == app.key {
                    fine = false;
                    self.problems
                        .add(Some(*mark), format!("{} requires itself", app.label))
                        .with_hint("`requires` names other apps, to be installed before this one");
                } else if !known.contains(required) {
                    fine = false;
                    let hint = match keys.iter().find(|key| key.as_str().eq_ignore_ascii_case(required.as_str())) {
                        Some(near) => format!("did you mean `{near}`? Keys are case-sensitive"),
                        None => format!("add an entry for `{required}` to the top-level `apps` or to the `apps` of {instance}, or remove it from `requires`"),
                    };
                    self.problems
                        .add(
                            Some(*mark),
                            format!(
                                "{} requires `{required}`, which is not an app of {instance}",
                                app.label
                            ),
                        )
                        .with_hint(hint);
                } else if absent.contains(required) && !absent.contains(app.key) {
                    fine = false;
                    self.problems
                        .add(
                            Some(*mark),
                            format!(
                                "{} requires `{required}`, which has `state: absent` on {instance}",
                                app.label
                            ),
                        )
                        .with_hint(format!(
                            "install `{required}` too, or remove it from `requires`"
                        ));
                }
            }
        }
        for cycle in cycles(graph, keys) {
            fine = false;
            // Marked where the cycle's first app (in manifest order) requires the next one.
            let (first, next) = (cycle[0], cycle[1]);
            let Some(mark) = graph
                .iter()
                .find(|app| app.key == first)
                .and_then(|app| app.requires.iter().find(|(key, _)| key == next))
                .map(|(_, mark)| *mark)
            else {
                continue;
            };
            let path = cycle
                .iter()
                .map(|key| key.as_str())
                .collect::<Vec<_>>()
                .join(" -> ");
            self.problems
                .add(
                    Some(mark),
                    format!("`requires` makes a cycle: {path}"),
                )
                .with_hint("no order installs each of these after the others: remove one of the `requires`");
        }
        fine
    }

    fn merge_app(
        &mut self,
        top: Option<&Resolved<'_>>,
        own: Option<&Resolved<'_>>,
        instance: &str,
        instance_hosting: Option<Hosting>,
    ) -> Option<DesiredState> {
        let state = match pick(
            own.map(|entry| &entry.app.state),
            top.map(|entry| &entry.app.state),
        ) {
            Some(Field::Given(state, _)) => *state,
            None | Some(Field::Missing) => State::Present,
            Some(Field::Invalid(_)) => return None,
        };
        if state == State::Absent {
            return self.absent(top, own, instance);
        }
        let version_field = pick(
            own.map(|entry| &entry.app.version),
            top.map(|entry| &entry.app.version),
        );
        let version = match version_field {
            Some(Field::Given(version, _)) => version.clone(),
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => {
                // A present top-level entry without a version was reported where it is written.
                let reported = top.is_some_and(|entry| {
                    !matches!(entry.app.state, Field::Given(State::Absent, _))
                });
                let typo = own.is_some_and(|own| own.app.typos.contains(&"version"));
                if let (false, false, Some(own)) = (reported, typo, own) {
                    let why = if top.is_some() {
                        "the top-level entry is absent, so this entry needs its own `version`"
                    } else {
                        "the app is not in the top-level `apps`, so this entry needs its own `version`"
                    };
                    self.problems
                        .add(
                            Some(own.app.mark),
                            format!("missing required field `version` in {}", own.app.label),
                        )
                        .with_hint(why);
                }
                return None;
            }
        };
        let enabled = match pick(
            own.map(|entry| &entry.app.enabled),
            top.map(|entry| &entry.app.enabled),
        ) {
            Some(Field::Given(enabled, _)) => *enabled,
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => true,
        };
        let license = match pick(
            own.map(|entry| &entry.license),
            top.map(|entry| &entry.license),
        ) {
            Some(Field::Given(license, _)) => license.clone(),
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => DesiredLicense::Unmanaged,
        };
        let source_field = pick(
            own.map(|entry| &entry.source),
            top.map(|entry| &entry.source),
        );
        let source = match source_field {
            Some(Field::Given(source, _)) => source.clone(),
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => Source::Marketplace,
        };
        let install_field = pick(
            own.map(|entry| &entry.app.install),
            top.map(|entry| &entry.app.install),
        );
        let install = match install_field {
            Some(Field::Given(install, _)) => *install,
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => InstallMethod::Auto,
        };
        let sha256_field = pick(
            own.map(|entry| &entry.app.sha256),
            top.map(|entry| &entry.app.sha256),
        );
        let sha256 = match sha256_field {
            Some(Field::Given(sha256, _)) => Some(sha256.clone()),
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => None,
        };
        let allow_incompatible = match pick(
            own.map(|entry| &entry.app.allow_incompatible),
            top.map(|entry| &entry.app.allow_incompatible),
        ) {
            Some(Field::Given(allow, _)) => *allow,
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => false,
        };
        // Kept only where it differs from the instance's, so the lock sees no change when an app
        // writes the instance's hosting.
        let hosting = match pick(
            own.map(|entry| &entry.app.hosting),
            top.map(|entry| &entry.app.hosting),
        ) {
            Some(Field::Given(hosting, _)) => {
                Some(*hosting).filter(|hosting| Some(*hosting) != instance_hosting)
            }
            Some(Field::Invalid(_)) => return None,
            None | Some(Field::Missing) => None,
        };

        let mut consistent = true;
        if let (InstallMethod::Uri, Source::Path(_)) = (install, &source) {
            consistent = false;
            self.uri_install_of_a_path(top, own, install_field, source_field);
        }
        if sha256.is_some() {
            consistent &=
                self.sha256_pins_the_version(top, own, &version, version_field, sha256_field);
        }
        consistent.then_some(DesiredState::Present(PresentApp {
            version,
            enabled,
            license,
            source,
            install,
            sha256,
            allow_incompatible,
            hosting,
        }))
    }

    /// `install: uri` with `source.path`: UPM cannot fetch a file on this machine. Reported at the
    /// field the instance entry wrote, else at `install` (the same problem for every instance,
    /// listed once).
    fn uri_install_of_a_path(
        &mut self,
        top: Option<&Resolved<'_>>,
        own: Option<&Resolved<'_>>,
        install: Option<&Field<InstallMethod>>,
        source: Option<&Field<Source>>,
    ) {
        let (Some(install_mark), Some(source_mark)) =
            (install.and_then(Field::mark), source.and_then(Field::mark))
        else {
            return;
        };
        let own = own.filter(|own| !own.app.install.is_missing() || !own.source.is_missing());
        let mark = match own {
            Some(own) if own.app.install.is_missing() => source_mark,
            _ => install_mark,
        };
        let label = own
            .or(top)
            .map_or(String::new(), |entry| entry.app.label.clone());
        self.problems
            .add(
                Some(mark),
                format!(
                    "a local file cannot be installed by URI: {label} has `install: uri` (line {}) and `source.path` (line {})",
                    install_mark.line, source_mark.line
                ),
            )
            .with_hint("use `install: upload` or `auto` (a `source.path` is uploaded)");
    }

    /// A `sha256` pins one artifact, so it needs an exact version, written in the same entry (an
    /// instance entry that changes the version must not inherit the top-level checksum).
    fn sha256_pins_the_version(
        &mut self,
        top: Option<&Resolved<'_>>,
        own: Option<&Resolved<'_>>,
        version: &VersionSpec,
        version_field: Option<&Field<VersionSpec>>,
        sha256_field: Option<&Field<crate::model::Sha256>>,
    ) -> bool {
        let Some(sha256_mark) = sha256_field.and_then(Field::mark) else {
            return true;
        };
        let sha256_from_top = own.is_none_or(|own| own.app.sha256.is_missing());
        let sha256_label = if sha256_from_top { top } else { own }
            .map_or(String::new(), |entry| entry.app.label.clone());
        if !matches!(version, VersionSpec::Exact(_)) {
            let version_line = version_field
                .and_then(Field::mark)
                .map_or(String::new(), |mark| format!(" (line {})", mark.line));
            self.problems
                .add(
                    Some(sha256_mark),
                    format!(
                        "`sha256` pins one artifact, but the version of {sha256_label} is `{}`{version_line}, not an exact version",
                        version
                    ),
                )
                .with_hint("write an exact version, or leave `sha256` out: `upmsync lock` records the checksum of the version it resolves");
            return false;
        }
        let (Some(own), Some(top)) = (own, top) else {
            return true;
        };
        if let (true, Field::Given(own_version, own_mark), Field::Given(top_version, _)) =
            (sha256_from_top, &own.app.version, &top.app.version)
        {
            if own_version != top_version {
                self.problems
                    .add(
                        Some(*own_mark),
                        format!(
                            "{} sets `version: {own_version}` but inherits `sha256` from the top-level entry (line {}), which is the checksum of version {top_version}",
                            own.app.label, sha256_mark.line
                        ),
                    )
                    .with_hint("give this entry its own `sha256`, or move `sha256` from the top-level entry into the instance entries");
                return false;
            }
        }
        true
    }

    /// An absent app. Fields inherited from the top level are dropped; fields written in an
    /// instance entry that inherits `state: absent` are refused, since they suggest the writer
    /// meant to install the app there.
    fn absent(
        &mut self,
        top: Option<&Resolved<'_>>,
        own: Option<&Resolved<'_>>,
        instance: &str,
    ) -> Option<DesiredState> {
        let Some(own) = own.filter(|own| own.app.state.is_missing()) else {
            return Some(DesiredState::Absent);
        };
        let top_line = top
            .and_then(|entry| entry.app.state.mark())
            .map_or(String::new(), |mark| format!(" (line {})", mark.line));
        let written = [
            ("version", own.app.version.mark()),
            ("enabled", own.app.enabled.mark()),
            ("license", own.app.license.mark()),
            ("source", own.app.source.mark()),
            ("install", own.app.install.mark()),
            ("sha256", own.app.sha256.mark()),
            ("allow_incompatible", own.app.allow_incompatible.mark()),
            ("hosting", own.app.hosting.mark()),
        ];
        let mut meaningful = true;
        for (name, mark) in written {
            if let Some(mark) = mark {
                meaningful = false;
                self.problems
                    .add(
                        Some(mark),
                        format!(
                            "`{name}` has no meaning for an absent app: {} inherits `state: absent` from the top-level entry{top_line}",
                            own.app.label
                        ),
                    )
                    .with_hint(format!("add `state: present` to this entry to install the app on {instance}"));
            }
        }
        meaningful.then_some(DesiredState::Absent)
    }
}

/// An app whose merged entry has `requires`, for the checks across apps.
struct Requiring<'a> {
    key: &'a AppKey,
    /// The entry that wrote the `requires` in effect, for messages.
    label: String,
    requires: &'a [(AppKey, Mark)],
}

/// The keys of one list's entries in the order they are written.
fn in_list_order<'k>(entries: &'k BTreeMap<AppKey, Resolved<'_>>) -> Vec<&'k AppKey> {
    let mut keys: Vec<(&AppKey, Mark)> = entries
        .iter()
        .map(|(key, entry)| (key, entry.app.mark))
        .collect();
    keys.sort_by_key(|(_, mark)| (mark.line, mark.column));
    keys.into_iter().map(|(key, _)| key).collect()
}

/// Cycles of `requires` (at least one for each group of apps that require each other), each once,
/// as the keys along it starting and ending with the app that comes first in manifest order
/// (`a -> b -> a`). Self-requirements and unknown keys are left out (reported on their own).
fn cycles<'a>(graph: &[Requiring<'a>], keys: &[&'a AppKey]) -> Vec<Vec<&'a AppKey>> {
    let edges: BTreeMap<&AppKey, Vec<&AppKey>> = graph
        .iter()
        .map(|app| {
            let targets = app
                .requires
                .iter()
                .map(|(key, _)| key)
                .filter(|key| *key != app.key && keys.contains(key))
                .collect();
            (app.key, targets)
        })
        .collect();
    let position = |key: &AppKey| {
        keys.iter()
            .position(|known| *known == key)
            .unwrap_or(usize::MAX)
    };
    let mut found: Vec<Vec<&AppKey>> = Vec::new();
    let mut done: BTreeSet<&AppKey> = BTreeSet::new();
    for start in keys {
        let mut stack: Vec<&AppKey> = Vec::new();
        walk(
            start,
            &edges,
            &mut stack,
            &mut done,
            &mut |cycle: &[&'a AppKey]| {
                // Rotate to start at the app first in manifest order, so each cycle is found once.
                let Some(first) = (0..cycle.len()).min_by_key(|index| position(cycle[*index]))
                else {
                    return;
                };
                let mut rotated: Vec<&AppKey> = cycle[first..]
                    .iter()
                    .chain(&cycle[..first])
                    .copied()
                    .collect();
                rotated.push(rotated[0]);
                if !found.contains(&rotated) {
                    found.push(rotated);
                }
            },
        );
    }
    found
}

/// Depth-first search from `key`, calling `cycle` with the keys of each cycle met (back edges).
fn walk<'a>(
    key: &'a AppKey,
    edges: &BTreeMap<&'a AppKey, Vec<&'a AppKey>>,
    stack: &mut Vec<&'a AppKey>,
    done: &mut BTreeSet<&'a AppKey>,
    cycle: &mut dyn FnMut(&[&'a AppKey]),
) {
    if done.contains(key) {
        return;
    }
    if let Some(index) = stack.iter().position(|on| *on == key) {
        cycle(&stack[index..]);
        return;
    }
    stack.push(key);
    for next in edges.get(key).into_iter().flatten() {
        walk(next, edges, stack, done, cycle);
    }
    stack.pop();
    done.insert(key);
}

/// The instance entry's field if written, else the top-level entry's: field-by-field merging.
fn pick<'a, T>(own: Option<&'a Field<T>>, top: Option<&'a Field<T>>) -> Option<&'a Field<T>> {
    match own {
        Some(field) if !field.is_missing() => Some(field),
        _ => top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(value: u8, line: usize) -> Field<u8> {
        Field::Given(value, Mark { line, column: 1 })
    }

    #[test]
    fn pick_prefers_what_the_instance_entry_wrote() {
        let own = given(1, 1);
        let top = given(2, 2);
        let missing = Field::Missing;
        let invalid = Field::Invalid(Mark { line: 3, column: 1 });
        assert!(matches!(
            pick(Some(&own), Some(&top)),
            Some(Field::Given(1, _))
        ));
        assert!(matches!(
            pick(Some(&missing), Some(&top)),
            Some(Field::Given(2, _))
        ));
        assert!(matches!(pick(None, Some(&top)), Some(Field::Given(2, _))));
        // Written but wrong: nothing is inherited, the problem was reported.
        assert!(matches!(
            pick(Some(&invalid), Some(&top)),
            Some(Field::Invalid(_))
        ));
        assert!(pick::<u8>(None, None).is_none());
    }

    #[test]
    fn base_directory_is_the_absolute_folder_of_the_manifest() {
        let base = base_directory(Path::new("config/apps.yaml"));
        assert!(base.is_absolute());
        assert!(base.ends_with("config"));
        assert_eq!(
            base_directory(Path::new("/etc/upmsync/apps.yaml")),
            Path::new("/etc/upmsync")
        );
    }
}
