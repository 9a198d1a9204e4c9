//! The one error type for bad input, shared by the engine, the scenario reader, the command line
//! and the page: a field path and a sentence.

use std::fmt;

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

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for InputError {}
