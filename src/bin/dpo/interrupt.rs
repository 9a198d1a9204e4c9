//! Ctrl-C during `dpo run`: the first interrupt asks training to stop at the next step boundary,
//! so that the command can still write what was asked for (JSON, CSV, plots) and exit with 130;
//! a second one ends the program at once, as an interrupt normally does.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_interrupt(_signal: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    // Only async-signal-safe calls here: an atomic store and `signal` itself. The default
    // disposition makes the next Ctrl-C end the program.
    // SAFETY: `signal` with SIG_DFL installs no Rust code and is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Catches the next Ctrl-C (on Unix; elsewhere an interrupt ends the program as usual).
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic and resets the disposition (see above).
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// Whether an interrupt asked training to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
