//! Passwords for the CLI: from a file (`--password-file`), else typed at
//! the terminal without echo, else one line of standard input. Never from
//! the command line (other users see it in `ps`), never printed.

use std::{
    io::{BufRead, IsTerminal, Read, Write},
    path::Path,
};

use anyhow::{bail, Context, Result};

use crate::error::Error;

/// The longest password read: far beyond any real one, and a bound on
/// what a wrong file makes us read.
const MAX: usize = 1024;

/// The password from `file`, or asked for with `prompt`.
pub fn read(file: Option<&Path>, prompt: &str) -> Result<String> {
    let raw = match file {
        Some(f) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("reading the password file {}", f.display()))?;
            if bytes.len() > MAX + 2 {
                bail!(Error::Invalid(format!(
                    "the password file {} is over {MAX} bytes: is it the right file?",
                    f.display()
                )));
            }
            String::from_utf8(bytes).map_err(|_| {
                Error::Invalid(format!("the password file {} is not UTF-8", f.display()))
            })?
        }
        None if std::io::stdin().is_terminal() => prompt_no_echo(prompt)?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .take(MAX as u64 + 2)
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line
        }
    };
    let pw = first_line(&raw);
    if pw.is_empty() {
        bail!(Error::Invalid("the password is empty".into()));
    }
    if pw.len() > MAX {
        bail!(Error::Invalid(format!("the password is over {MAX} bytes")));
    }
    Ok(pw.to_owned())
}

/// A file's or input's first line, without its line end: editors add one.
fn first_line(s: &str) -> &str {
    s.split('\n').next().unwrap_or("").trim_end_matches('\r')
}

/// Reads one line from the terminal with its echo off, restored after.
fn prompt_no_echo(prompt: &str) -> Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    tcsetattr(&stdin, OptionalActions::Flush, &quiet).context("turning the echo off")?;
    let mut line = String::new();
    let read = stdin.lock().take(MAX as u64 + 2).read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Flush, &saved);
    eprintln!();
    read.context("reading the password")?;
    restored.context("turning the echo back on")?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        for (content, want) in [
            ("secret\n", Some("secret")),
            ("secret\r\n", Some("secret")),
            ("secret", Some("secret")),
            ("with space \nsecond line\n", Some("with space ")),
            ("\n", None),
            ("", None),
        ] {
            std::fs::write(&f, content).unwrap();
            let got = read(Some(&f), "");
            match want {
                Some(w) => assert_eq!(got.unwrap(), w),
                None => assert!(got.unwrap_err().to_string().contains("empty")),
            }
        }
        std::fs::write(&f, "x".repeat(MAX + 10)).unwrap();
        assert!(read(Some(&f), "").unwrap_err().to_string().contains("over"));
        let e = read(Some(&dir.path().join("none")), "").unwrap_err();
        assert!(
            format!("{e:#}").contains("reading the password file"),
            "{e:#}"
        );
    }
}
