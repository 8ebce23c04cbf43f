//! What text upmsync reads from files may hold, and how text from a server is printed.
//!
//! Two sides of one rule: no character that a terminal or an editor acts on instead of showing
//! (control characters, Unicode bidi and other format controls, line and paragraph separators)
//! hides in what a human reviews.
//!
//! - Files upmsync reads (`apps.yaml`, `apps.lock`, saved plans) are refused when they hold one
//!   outside tab, CR and LF: [`check_file`] names the first by line and column. A NUL byte would
//!   otherwise end the file for the YAML scanner, and a bidi override can make a reviewer read a
//!   line other than the one the parser reads.
//! - Text from a server (app keys, names, versions, vendor text, error bodies) is printed through
//!   [`escape`] (one field, one line) or [`escape_lines`] (keeps line breaks), so it cannot move the
//!   cursor, clear the screen or start a fake line of a plan.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is acted on rather than shown: a control character (C0, DEL, C1), a Unicode format
/// control (bidi embeddings, overrides and isolates, zero-width characters, the BOM, tags), or a
/// line or paragraph separator.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// Whether a file may hold `c`: anything shown, and tab, CR and LF.
fn allowed_in_file(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !is_hidden(c)
}

/// The first character of a value (a YAML scalar after its escapes, a JSON string) that no file
/// may hold, e.g. `"\u{1b}"` or `"\u{202e}"` written as an escape.
pub fn forbidden_in_value(text: &str) -> Option<char> {
    text.chars().find(|&c| !allowed_in_file(c))
}

/// `text` for one line of output: every hidden character (line breaks and tabs included) is
/// written as an escape (`\n`, `\t`, `\u{1b}`), the rest as is.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_except(text, |_| false)
}

/// `text` for output that may span lines: like [`escape`] but LF stays a line break.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_except(text, |c| c == '\n')
}

fn escape_except(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_hidden(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c, &keep);
    }
    Cow::Owned(out)
}

/// Appends `c` to `out`, escaped when it is hidden (and not kept).
fn push_escaped(out: &mut String, c: char, keep: &impl Fn(char) -> bool) {
    if !is_hidden(c) || keep(c) {
        out.push(c);
    } else if c.is_control() {
        // `\n`, `\t`, `\r` or `\u{1b}`.
        out.extend(c.escape_default());
    } else {
        out.extend(c.escape_unicode());
    }
}

/// Appends `c` escaped when it is hidden: the one escaping rule, for callers that build text a
/// character at a time (the UPM error excerpts).
pub fn push_char(out: &mut String, c: char) {
    push_escaped(out, c, &|_| false);
}

/// JSON text with every hidden character that serde leaves raw (format controls such as U+202E,
/// line separators) written as a `\uXXXX` escape: the same JSON value, safe to show on a terminal.
///
/// Only valid for JSON produced by a serializer, where such characters can only be inside strings.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_hidden_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_hidden_in_json(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Hidden characters serde_json writes raw: all but the C0 controls it escapes (LF and friends
/// between tokens are layout).
fn is_hidden_in_json(c: char) -> bool {
    is_hidden(c) && !c.is_ascii_control()
}

/// Why a file's bytes are not acceptable text, and where (1-based; the column counts characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub line: usize,
    pub column: usize,
    /// What was found, e.g. "a NUL byte (U+0000)".
    pub message: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Checks that `bytes` are UTF-8 text holding no hidden character outside tab, CR and LF, and
/// returns the text without a leading byte order mark (editors on Windows write one; anywhere else
/// U+FEFF is refused like any format control).
pub fn check_file(bytes: &[u8]) -> Result<&str, Fault> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            // Valid up to here by construction; the lossy view cannot fail.
            let valid = String::from_utf8_lossy(&bytes[..error.valid_up_to()]);
            let (line, column) = place_after(&valid);
            return Err(Fault {
                line,
                column,
                message: "the file is not UTF-8 text".into(),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_text(text)?;
    Ok(text)
}

/// [`check_file`] for text already decoded (no BOM is stripped).
pub fn check_text(text: &str) -> Result<(), Fault> {
    let Some((index, c)) = text.char_indices().find(|&(_, c)| !allowed_in_file(c)) else {
        return Ok(());
    };
    let (line, column) = place_after(&text[..index]);
    Err(Fault {
        line,
        column,
        message: format!("{} is not allowed", describe(c)),
    })
}

/// A forbidden character for a message: "a NUL byte (U+0000)", "the control character U+001B".
pub fn describe(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    match c {
        '\0' => format!("a NUL byte ({code})"),
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => {
            format!("the bidirectional text control {code}")
        }
        '\u{FEFF}' => format!("a byte order mark ({code}) after the start"),
        c if c.is_control() => format!("the control character {code}"),
        _ => format!("the invisible format character {code}"),
    }
}

/// The line and column of the character that follows `before`.
fn place_after(before: &str) -> (usize, usize) {
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_every_hidden_character() {
        assert_eq!(escape("com.a"), "com.a");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(escape_lines("a\nb\u{7}"), "a\nb\\u{7}");
        assert_eq!(escape("héllo ✓"), "héllo ✓");
    }

    #[test]
    fn json_escapes_stay_json() {
        let json = serde_json::to_string(&"a\u{202e}b\u{1F600}\u{E0041}").unwrap();
        let escaped = escape_json(&json);
        assert!(!escaped.contains('\u{202e}'), "{escaped}");
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, "a\u{202e}b\u{1F600}\u{E0041}");
    }

    #[test]
    fn files_are_checked_with_line_and_column() {
        assert_eq!(check_file(b"a: 1\n\tb: 2\r\n").unwrap(), "a: 1\n\tb: 2\r\n");
        assert_eq!(check_file("\u{feff}a: 1\n".as_bytes()).unwrap(), "a: 1\n");
        let fault = check_file(b"a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!((fault.line, fault.column), (2, 5));
        assert!(fault.message.contains("NUL"), "{fault}");
        let fault = check_file("a: 1\n# é\u{202e}\n".as_bytes()).unwrap_err();
        assert_eq!((fault.line, fault.column), (2, 4));
        assert!(fault.message.contains("bidirectional"), "{fault}");
        let fault = check_file(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!((fault.line, fault.column), (2, 4));
        assert!(fault.message.contains("UTF-8"), "{fault}");
        assert!(check_file("a\u{feff}".as_bytes()).is_err());
        assert!(check_file(b"a\x1b[2J").is_err());
        assert!(check_file("a\u{2028}".as_bytes()).is_err());
    }
}
