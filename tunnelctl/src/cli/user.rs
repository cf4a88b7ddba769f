//! `tunnelctl user add|remove|list`: TIC's users. The password is read
//! here (a file, the terminal, or standard input) and only its md5hex
//! goes to the daemon, the one form TIC's login needs.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use super::{output, password, ApiClient};
use crate::{
    api::{Request, Response, UserSpec},
    tic::auth::md5hex,
};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user (the password from --password-file, else asked for).
    Add {
        /// 1 to 32 of A-Z a-z 0-9 . _ - (e.g. a SixXS handle, JOHN1-SIXXS).
        name: String,
        /// The user's full name, shown at TIC login.
        #[arg(long)]
        full_name: Option<String>,
        /// A file whose first line is the password; without it the
        /// password is asked for (or read from standard input).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Remove a user (refused while the user owns tunnels).
    Remove { name: String },
    /// Users and the tunnels each owns.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(c: &mut ApiClient, cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            full_name,
            password_file,
        } => {
            let pw = password::read(password_file.as_deref(), &format!("password for {name}: "))?;
            let user = UserSpec {
                name: name.clone(),
                full_name,
                password_md5: md5hex(pw.as_bytes()),
            };
            c.simple(Request::UserAdd { user })?;
            println!("user {name} added");
        }
        UserCmd::Remove { name } => {
            c.simple(Request::UserRemove { name: name.clone() })?;
            println!("user {name} removed");
        }
        UserCmd::List { json } => {
            let Response::Users { users } = c.simple(Request::UserList)? else {
                bail!("unexpected response")
            };
            if json {
                return output::json(&users);
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    let ids: Vec<String> = u.tunnels.iter().map(u32::to_string).collect();
                    vec![
                        u.name.clone(),
                        u.full_name.clone().unwrap_or_default(),
                        ids.join(","),
                    ]
                })
                .collect();
            output::table(&["NAME", "FULL NAME", "TUNNELS"], &rows);
        }
    }
    Ok(())
}
