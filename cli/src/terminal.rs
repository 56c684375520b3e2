//! What the terminal gets: color only where it helps. (Control characters are escaped with
//! `xplug_loader::tools::escape_control`.)

/// Whether to color output written to a stream: only when it is a terminal and `NO_COLOR` is
/// unset or empty (<https://no-color.org>).
pub(crate) fn use_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

/// Whether standard error is a terminal. Always `false` when built by a compiler older than
/// 1.70.
#[rustversion::since(1.70)]
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Whether standard error is a terminal (never, before rustc 1.70).
#[rustversion::before(1.70)]
pub(crate) fn stderr_is_terminal() -> bool {
    false
}
