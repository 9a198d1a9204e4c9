//! Every byte `dpo` writes to its standard streams goes through here, so that no write panics
//! (`println!` does when standard output is full or closed). A closed pipe (`dpo preset x | head`)
//! ends the program quietly with status 0, as Unix tools do; any other failure to write standard
//! output is a one-line message and status 1. Failures to write standard error are ignored:
//! there is nowhere left to report them, and the exit status still says what happened.

use super::Failure;
use std::io::{ErrorKind, Write};

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| write_failure("standard output", &error))
}

/// Writes `text` and a newline to standard output.
pub fn println(text: &str) -> Result<(), Failure> {
    print(&format!("{text}\n"))
}

/// Writes `text` and a newline to standard error, ignoring failure.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Writes `text` to standard error without a newline (a progress bar), ignoring failure.
pub fn progress(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush());
}

/// The failure for an error writing `what` (a stream or a file): quiet for a closed pipe.
pub fn write_failure(what: &str, error: &std::io::Error) -> Failure {
    if error.kind() == ErrorKind::BrokenPipe {
        Failure::closed_pipe()
    } else {
        Failure(format!("cannot write {what}: {error}"), 1)
    }
}
