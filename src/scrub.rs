//! Secret scrubbing: every secret upmsync holds in this process (passwords, tokens, license texts,
//! upm-tokens) is remembered here the moment it is made ([`crate::model::Secret::new`] calls
//! [`register`]), in every form a server is likely to echo it back in: as it is, its lines (a
//! license text re-wrapped), JSON-escaped, percent-encoded, base64 (standard and URL-safe, with
//! and without padding), and the `Basic` form `base64(user:password)` ([`register_basic`]).
//!
//! [`scrub`] replaces each of those forms by `[redacted]`. It runs on every piece of text a server
//! controls (error bodies, web page titles, excerpts, task messages) before that text is put into
//! an error, and once more on everything written to stdout, stderr and `--report`, so a server
//! that echoes the `Authorization` header or a license back cannot get it into a log.

use std::sync::{PoisonError, RwLock};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A line of a multi-line secret (a license text) is scrubbed on its own when it is at least this
/// long, so a server that re-wraps or re-indents the text still has every line scrubbed; shorter
/// lines (a `-----BEGIN` marker's tail, a blank) would blank out ordinary words.
const MIN_LINE: usize = 8;

/// A secret shorter than this is not scrubbed as it is (its base64 and `Basic` forms still are):
/// one of one to three characters occurs in nearly every word and URL, so scrubbing it would
/// blank out every message while hiding nothing (such a value is guessed in seconds anyway).
const MIN_RAW: usize = 4;

/// Every form of every secret of this process, longest first.
///
/// The one process-wide state upmsync keeps, on purpose: a secret becomes known wherever a
/// `Secret` is made (the manifest loader, a session cookie deep in the UPM client), and every line
/// the process writes must be scrubbed of it, whichever run, client or thread made it. It holds no
/// option and no run state; settings travel as values (`crate::http::HttpSettings`).
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a secret (and its echoed forms) for [`scrub`]. Empty and whitespace-only values are
/// ignored: they are no secret, and scrubbing them would match everywhere.
pub fn register(secret: &str) {
    let trimmed = secret.trim();
    if trimmed.is_empty() {
        return;
    }
    let mut forms = Vec::new();
    for value in [secret, trimmed] {
        if value.chars().count() >= MIN_RAW {
            forms.extend(encodings(value));
        } else {
            forms.extend(
                base64_forms(value)
                    .into_iter()
                    .filter(|form| form.len() >= MIN_RAW),
            );
        }
    }
    // A multi-line secret (a license) may come back re-wrapped: each of its lines is a form too.
    if trimmed.contains(char::is_whitespace) {
        for line in trimmed.split_whitespace() {
            if line.chars().count() >= MIN_LINE {
                forms.extend(encodings(line));
            }
        }
        let joined: String = trimmed.split_whitespace().collect();
        forms.extend(encodings(&joined));
    }
    add(forms);
}

/// Remembers the `Authorization: Basic` form of a user and password (`base64(user:password)`),
/// beside the password itself.
pub fn register_basic(username: &str, password: &str) {
    register(password);
    let pair = format!("{username}:{password}");
    add(base64_forms(&pair));
}

/// `text` with every registered secret form replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let forms = FORMS.read().unwrap_or_else(PoisonError::into_inner);
    let mut text = text.to_string();
    for form in forms.iter() {
        if text.contains(form.as_str()) {
            text = text.replace(form.as_str(), REDACTED);
        }
    }
    text
}

/// Whether `text` holds any registered secret form (for tests and checks).
pub fn holds_secret(text: &str) -> bool {
    let forms = FORMS.read().unwrap_or_else(PoisonError::into_inner);
    forms.iter().any(|form| text.contains(form.as_str()))
}

fn add(new: Vec<String>) {
    let mut forms = FORMS.write().unwrap_or_else(PoisonError::into_inner);
    for form in new {
        if !form.is_empty() && !forms.contains(&form) {
            forms.push(form);
        }
    }
    // Longest first: a form that holds another (the whole license, one of its lines) is replaced
    // whole before the shorter one would cut it into pieces.
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
}

/// The forms of one value: raw, JSON-escaped, percent-encoded (as in a query or form body), base64.
fn encodings(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        // Without the quotes.
        forms.push(json[1..json.len() - 1].to_string());
    }
    forms.push(
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    );
    forms.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    forms.extend(base64_forms(value));
    forms
}

fn base64_forms(value: &str) -> Vec<String> {
    [STANDARD, URL_SAFE]
        .iter()
        .map(|engine| engine.encode(value))
        .chain(
            [STANDARD_NO_PAD, URL_SAFE_NO_PAD]
                .iter()
                .map(|engine| engine.encode(value)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_scrubbed() {
        register("s3cr+t/pass word");
        register_basic("bob", "s3cr+t/pass word");
        let basic = STANDARD.encode("bob:s3cr+t/pass word");
        for echoed in [
            "s3cr+t/pass word".to_string(),
            STANDARD.encode("s3cr+t/pass word"),
            URL_SAFE_NO_PAD.encode("s3cr+t/pass word"),
            format!("Authorization: Basic {basic}"),
            "password=s3cr%2Bt%2Fpass+word".to_string(),
            "s3cr%2Bt%2Fpass%20word".to_string(),
        ] {
            let scrubbed = scrub(&format!("echo: {echoed} end"));
            assert!(scrubbed.contains(REDACTED), "{echoed} -> {scrubbed}");
            assert!(!holds_secret(&scrubbed), "{echoed} -> {scrubbed}");
            assert!(!scrubbed.contains("s3cr"), "{echoed} -> {scrubbed}");
        }
    }

    #[test]
    fn a_rewrapped_license_is_scrubbed_line_by_line() {
        let license = "AAABLICENSELINEONE0123\nAAABLICENSELINETWO4567\nAAABLICENSELINETHREE89";
        register(license);
        let echoed = "{\"rawLicense\":\"AAABLICENSELINEONE0123\\r\\nAAABLICENSELINETWO4567 AAABLICENSELINETHREE89\"}";
        let scrubbed = scrub(echoed);
        assert!(!scrubbed.contains("LICENSELINE"), "{scrubbed}");
        assert!(scrub("AAABLICENSELINEONE0123AAABLICENSELINETWO4567").contains(REDACTED));
    }

    #[test]
    fn blank_secrets_scrub_nothing() {
        register("");
        register("   ");
        assert_eq!(scrub("plain text"), "plain text");
    }
}
