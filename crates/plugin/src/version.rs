//! Plugin version ordering, a port of the Atlassian plugin framework's `VersionStringComparator`
//! (marketplace-api.md §11), which UPM uses to decide upgrade (`>=`) versus "installed version is newer".

use std::cmp::Ordering;

/// A version string the plugin framework would refuse to compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version `{text}`: {reason}")]
pub struct InvalidVersion {
    pub text: String,
    pub reason: &'static str,
}

/// Whether `version` is `bound` (padded with zeros) followed by a qualifier: `9.0.0-DC` of `9`,
/// `8.29.0-rc1` of `8.29`.
pub fn is_qualified_build_of(version: &str, bound: &str) -> bool {
    let version = normalize(version);
    let bound = normalize(bound);
    let parts: Vec<&str> = version.split(['.', '-']).collect();
    let bound_parts: Vec<&str> = bound.split(['.', '-']).collect();
    let Some(first_qualifier) = parts
        .iter()
        .position(|part| !part.chars().all(|c| c.is_ascii_digit()))
    else {
        return false;
    };
    let numeric = &parts[..first_qualifier];
    numeric.len() >= bound_parts.len()
        && (0..numeric.len()).all(|index| {
            let bound_part = bound_parts.get(index).copied().unwrap_or("0");
            compare_component(numeric[index], bound_part) == Ordering::Equal
        })
}

/// Checks a version against the framework's pattern `[\d\w]+(?:[\.-][\d\w]+)*` (spaces removed).
/// Unlike the framework, which reads an empty version as `0`, an empty version is refused: in a
/// manifest it is always a mistake.
pub fn validate(text: &str) -> Result<(), InvalidVersion> {
    let compact = strip_whitespace(text);
    if compact.is_empty() {
        return Err(InvalidVersion {
            text: text.to_string(),
            reason: "it is empty",
        });
    }
    if !is_valid(&compact) {
        return Err(InvalidVersion {
            text: text.to_string(),
            reason: "a version is letters, digits and `_` in parts separated by `.` or `-` (e.g. `8.28.1` or `1.0.0-beta-2`)",
        });
    }
    Ok(())
}

/// Compares two versions as the plugin framework does. A version the framework cannot parse sorts
/// below every valid one (as `AbstractPlugin.compareTo` does); two invalid ones compare as text,
/// ignoring case.
///
/// Faithful to the framework, this is not a total order: across parts that mix digits and letters
/// it has cycles (`0 < 1A < SNAPSHOT < 0`, marketplace-api.md §11). Never hand it to `sort_by`
/// (which may panic on such an order); `max_by` is safe, and the reason upmsync's `Version` is
/// not `Ord`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let a = normalize(a);
    let b = normalize(b);
    match (is_valid(&a), is_valid(&b)) {
        (true, true) => compare_valid(&a, &b),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()),
    }
}

fn strip_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Null or empty reads as `"0"`, all whitespace is deleted (`StringUtils.deleteWhitespace`).
fn normalize(text: &str) -> String {
    let compact = strip_whitespace(text);
    if compact.is_empty() {
        "0".to_string()
    } else {
        compact
    }
}

fn is_word_char(c: char) -> bool {
    // Java's `\w` without UNICODE_CHARACTER_CLASS is ASCII only.
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_valid(text: &str) -> bool {
    !text.is_empty()
        && text
            .split(['.', '-'])
            .all(|part| !part.is_empty() && part.chars().all(is_word_char))
}

fn compare_valid(a: &str, b: &str) -> Ordering {
    let left: Vec<&str> = a.split(['.', '-']).collect();
    let right: Vec<&str> = b.split(['.', '-']).collect();
    let length = left.len().max(right.len());
    for index in 0..length {
        let x = left.get(index).copied().unwrap_or("0");
        let y = right.get(index).copied().unwrap_or("0");
        let order = compare_component(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn compare_component(a: &str, b: &str) -> Ordering {
    if a.eq_ignore_ascii_case(b) {
        return Ordering::Equal;
    }
    let a_is_integer = a.chars().all(|c| c.is_ascii_digit());
    let b_is_integer = b.chars().all(|c| c.is_ascii_digit());
    if a_is_integer && b_is_integer {
        return compare_digits(a, b);
    }
    let a_lead = leading_digits(a);
    let b_lead = leading_digits(b);
    if !a_lead.is_empty() && !b_lead.is_empty() {
        let order = compare_digits(a_lead, b_lead);
        if order != Ordering::Equal {
            return order;
        }
    }
    if a_is_integer {
        return Ordering::Greater;
    }
    if b_is_integer {
        return Ordering::Less;
    }
    a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase())
}

fn leading_digits(text: &str) -> &str {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    &text[..end]
}

/// Numeric comparison of digit strings of any length (the framework uses `BigInteger`).
fn compare_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    /// The table of marketplace-api.md §11, computed there with a line-by-line port of
    /// `VersionStringComparator`.
    #[test]
    fn reference_ordering_table() {
        let table = [
            ("8.28.1", "8.28.0", Greater),
            ("8.28.1", "8.28.10", Less),
            ("8.28.1", "8.28.1.0", Equal),
            ("1.0", "1.0.0", Equal),
            ("1.0.0-beta-2", "1.0.0", Less),
            ("1.0.0-beta-2", "1.0.0-beta-10", Less),
            ("1.0.0-beta", "1.0.0-alpha", Greater),
            ("1.0.0-rc10", "1.0.0-rc2", Less),
            ("1.0.0-RC1", "1.0.0-rc1", Equal),
            ("2.0.0.SNAPSHOT", "2.0.0", Less),
            ("2.0.0-SNAPSHOT", "2.0.0", Less),
            ("2.0.0.SNAPSHOT", "2.0.0-SNAPSHOT", Equal),
            ("7.10.0-DC", "7.10.0", Less),
            ("7.10.0-DC", "7.9.5", Greater),
            ("1.0.0-1", "1.0.0", Greater),
            ("3.4a", "3.10", Less),
        ];
        for (a, b, expected) in table {
            assert_eq!(compare(a, b), expected, "{a} vs {b}");
            assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn invalid_versions_sort_below_valid_ones() {
        assert_eq!(compare("1.0+build", "0.0.1"), Less);
        assert_eq!(compare("0.0.1", "1.0+build"), Greater);
        assert_eq!(compare("", "0"), Equal);
        assert_eq!(compare(" 1 . 2 ", "1.2"), Equal);
    }

    #[test]
    fn huge_numbers_compare_without_overflow() {
        assert_eq!(
            compare("99999999999999999999999.1", "99999999999999999999998.9"),
            Greater
        );
        assert_eq!(compare("007", "7"), Equal);
    }

    #[test]
    fn validate_accepts_the_framework_pattern_only() {
        assert!(validate("8.28.1").is_ok());
        assert!(validate("1.0.0-beta_2").is_ok());
        assert!(validate("").is_err());
        assert!(validate("1.0+build").is_err());
        assert!(validate("1..0").is_err());
        assert!(validate("-1.0").is_err());
        assert!(validate("latest!").is_err());
    }
}
