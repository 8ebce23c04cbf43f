//! Version requirements from the manifest (`latest`, an exact version, a constraint), matched with
//! the plugin framework's ordering. The ordering itself lives in [`upmsync_plugin::version`] and is
//! re-exported here, so `upmsync::version::compare` keeps working.

use std::cmp::Ordering;

use upmsync_plugin::version::is_qualified_build_of;
pub use upmsync_plugin::version::{compare, validate, InvalidVersion};

/// Checks a version written in the manifest: the plugin framework's rule ([`validate`]) and no
/// whitespace inside it. The framework deletes whitespace before it compares, so `8.28 .1` would
/// equal an installed `8.28.1`, but the Marketplace looks a version up by its exact name
/// (marketplace-api.md): such a version could be kept but never installed. In a manifest it is
/// a typo, refused where `validate` sees it.
pub fn validate_written(text: &str) -> Result<(), InvalidVersion> {
    validate(text)?;
    if text.trim().contains(char::is_whitespace) {
        return Err(InvalidVersion {
            text: text.to_string(),
            reason: "a version has no whitespace inside it (e.g. `8.28.1`, not `8.28 .1`)",
        });
    }
    Ok(())
}

/// A version requirement from the manifest: an exact version, the newest compatible one, or a
/// constraint such as `">=8.20, <9"` or `"~8.28"`, matched with the plugin framework's ordering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionSpec {
    Exact(crate::model::Version),
    Latest,
    Constraint(Constraint),
}

impl VersionSpec {
    /// Reads `latest`, a constraint (it starts with an operator), or an exact version.
    pub fn parse(text: &str) -> Result<Self, InvalidVersion> {
        let trimmed = text.trim();
        if trimmed == "latest" {
            return Ok(VersionSpec::Latest);
        }
        if trimmed.starts_with(['>', '<', '=', '~', '^']) || trimmed.contains(',') {
            return Constraint::parse(trimmed).map(VersionSpec::Constraint);
        }
        crate::model::Version::parse(trimmed).map(VersionSpec::Exact)
    }

    /// Whether a version satisfies this requirement (`latest` is satisfied by any version: what
    /// "newest" means is the Marketplace's to say).
    pub fn matches(&self, version: &crate::model::Version) -> bool {
        match self {
            VersionSpec::Exact(exact) => exact == version,
            VersionSpec::Latest => true,
            VersionSpec::Constraint(constraint) => constraint.matches(version),
        }
    }
}

impl std::fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSpec::Exact(version) => write!(f, "{version}"),
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Constraint(constraint) => f.write_str(&constraint.text),
        }
    }
}

/// Comma-separated clauses that must all hold: `>=8.20, <9`. `~X.Y` means `>=X.Y, <X.(Y+1)` and
/// `~X` means `>=X, <X+1`; `^X.Y` means `>=X.Y, <(X+1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    /// As written, for messages and the lock file.
    pub text: String,
    clauses: Vec<(Operator, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Self, InvalidVersion> {
        let invalid = |reason: &'static str| InvalidVersion {
            text: text.to_string(),
            reason,
        };
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(invalid(
                    "a constraint is clauses like `>=8.20` separated by commas; one is empty",
                ));
            }
            let (operator, rest) = [
                (">=", Some(Operator::GreaterOrEqual)),
                ("<=", Some(Operator::LessOrEqual)),
                (">", Some(Operator::Greater)),
                ("<", Some(Operator::Less)),
                ("==", Some(Operator::Equal)),
                ("=", Some(Operator::Equal)),
                ("~", None),
                ("^", None),
            ]
            .into_iter()
            .find_map(|(prefix, operator)| {
                part.strip_prefix(prefix)
                    .map(|rest| ((prefix, operator), rest.trim()))
            })
            .ok_or_else(|| {
                invalid("each clause starts with one of `>=`, `>`, `<=`, `<`, `=`, `~` or `^`")
            })?;
            validate_written(rest).map_err(|_| invalid("a clause's version must be letters, digits and `_` in parts separated by `.` or `-`, with no whitespace inside"))?;
            match operator {
                (_, Some(operator)) => clauses.push((operator, rest.to_string())),
                (prefix, None) => {
                    let numbers: Vec<&str> = rest.split(['.', '-']).collect();
                    let keep = if prefix == "^" || numbers.len() == 1 {
                        1
                    } else {
                        2
                    };
                    let mut upper: Vec<String> = numbers
                        .iter()
                        .take(keep)
                        .map(|part| part.to_string())
                        .collect();
                    let last = upper
                        .last_mut()
                        .ok_or_else(|| invalid("`~` and `^` need a version"))?;
                    let bumped = last
                        .parse::<u64>()
                        .ok()
                        .and_then(|number| number.checked_add(1))
                        .ok_or_else(|| {
                            invalid("`~` and `^` need numeric version parts (e.g. `~8.28`)")
                        })?;
                    *last = bumped.to_string();
                    clauses.push((Operator::GreaterOrEqual, rest.to_string()));
                    clauses.push((Operator::Less, upper.join(".")));
                }
            }
        }
        Ok(Self {
            text: text.to_string(),
            clauses,
        })
    }

    pub fn matches(&self, version: &crate::model::Version) -> bool {
        self.clauses.iter().all(|(operator, bound)| {
            let order = compare(version.as_str(), bound);
            match operator {
                Operator::Greater => order == Ordering::Greater,
                Operator::GreaterOrEqual => order != Ordering::Less,
                // The framework orders `9.0.0-DC` and `9.0.0-beta-1` below `9`, but nobody who
                // writes `<9` (or `~8.28`, `^8`) means a build of 9: such versions are excluded.
                Operator::Less => {
                    order == Ordering::Less && !is_qualified_build_of(version.as_str(), bound)
                }
                Operator::LessOrEqual => order != Ordering::Greater,
                Operator::Equal => order == Ordering::Equal,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_may_surround_a_version_but_not_split_it() {
        assert!(VersionSpec::parse(" 8.28.1 ").is_ok());
        assert!(VersionSpec::parse(">= 8.20 , < 9").is_ok());
        for written in [
            "8.28 .1",
            "1.0 beta",
            "~ 8 .28",
            ">=8.20, <9 .1",
            "8.28\t.1",
        ] {
            let error = VersionSpec::parse(written).unwrap_err();
            assert!(
                error.to_string().contains("whitespace"),
                "{written}: {error}"
            );
        }
    }

    #[test]
    fn version_specs_parse_and_match() {
        let v = |text: &str| crate::model::Version::parse(text).unwrap();
        assert_eq!(VersionSpec::parse("latest").unwrap(), VersionSpec::Latest);
        assert_eq!(
            VersionSpec::parse("8.28.1").unwrap(),
            VersionSpec::Exact(v("8.28.1"))
        );
        let range = VersionSpec::parse(">=8.20, <9").unwrap();
        assert!(range.matches(&v("8.20")) && range.matches(&v("8.29.3")));
        assert!(!range.matches(&v("9.0.0")) && !range.matches(&v("8.19.9")));
        let tilde = VersionSpec::parse("~8.28").unwrap();
        assert!(tilde.matches(&v("8.28.0")) && tilde.matches(&v("8.28.17")));
        assert!(!tilde.matches(&v("8.29.0")) && !tilde.matches(&v("8.27.9")));
        let tilde_patch = VersionSpec::parse("~8.28.1").unwrap();
        assert!(tilde_patch.matches(&v("8.28.5")) && !tilde_patch.matches(&v("8.28.0")));
        let caret = VersionSpec::parse("^8.2").unwrap();
        assert!(caret.matches(&v("8.99")) && !caret.matches(&v("9.0")));
        assert_eq!(tilde.to_string(), "~8.28");
        // Qualified builds of an upper bound are not below it.
        for excluded in ["9.0.0-DC", "9.0.0-beta-1", "9-rc1"] {
            assert!(!range.matches(&v(excluded)), "{excluded}");
        }
        assert!(!tilde.matches(&v("8.29.0-rc1")));
        assert!(
            tilde.matches(&v("8.28.3-DC")),
            "a qualified build inside the range still matches"
        );
        for bad in [">=", ">= 8.2,", "~x.y", "!8", ">8+1", "8.2 <9"] {
            assert!(VersionSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
