//! The one error type for bad input, shared by the engine, the scenario reader, the command line
//! and the page: a field path and a sentence.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Bad input, located by the path of the field that holds it, e.g. `reference[0][1]` or
/// `runs[2].beta`. An empty path means the input as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// Where the problem is: `runs[0].betta`, `pairs[2].rejected`, or `line 3, column 7`.
    pub path: String,
    /// What is wrong, as a sentence fragment: `unknown field`, `must be positive and finite`.
    pub message: String,
}

impl InputError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error, with `prefix` put in front of its path (`runs[1]` + `beta` = `runs[1].beta`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

/// `prefix` followed by `rest`: a dot between names, none before an index.
pub fn join_path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else if rest.is_empty() {
        prefix.to_string()
    } else if rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

/// `text` with every control character (C0, DEL and C1: what `char::is_control` says) written as
/// a Rust-style escape, `\u{1b}`, so that text from a file can be printed to a terminal without
/// moving the cursor, clearing the screen or setting the window title. Everything else, non-ASCII
/// letters included, is left as it is; text without control characters is not copied.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    escape_where(text, char::is_control)
}

/// `text` with every character for which `escape` holds written as `\u{hex}`; borrowed when there
/// is none.
pub(crate) fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = text.find(|c: char| escape(c)) else {
        return Cow::Borrowed(text);
    };
    let mut escaped = String::with_capacity(text.len() + 8);
    escaped.push_str(&text[..first]);
    for c in text[first..].chars() {
        if escape(c) {
            // Writing to a String cannot fail.
            let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths hold field names and messages quote labels, both taken from the input: escape
        // their control characters so that printing an error cannot drive the terminal.
        let message = escape_control(&self.message);
        if self.path.is_empty() {
            write!(f, "{message}")
        } else {
            write!(f, "{}: {message}", escape_control(&self.path))
        }
    }
}

impl std::error::Error for InputError {}
