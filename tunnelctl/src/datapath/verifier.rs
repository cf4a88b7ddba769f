//! A verifier rejection as an operator can read it: the kernel's reason is
//! in the last lines of its log, which can run to a million lines.

use aya::programs::ProgramError;

/// Lines of the verifier's log kept in the error.
const TAIL: usize = 30;

/// `e` with the verifier's log cut to its last lines.
pub fn short(e: ProgramError) -> anyhow::Error {
    if let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = &e
    {
        let log = verifier_log.to_string();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL)..].join("\n");
        return anyhow::anyhow!(
            "{io_error}; the verifier's last {} of {} lines:\n{tail}",
            TAIL.min(lines.len()),
            lines.len()
        );
    }
    e.into()
}
