//! A TIC session as a state machine: one line in, the reply lines out,
//! with whether to close and what happened (for counters and logs). No
//! I/O: the users and tunnels come through `Directory`, the time and the
//! challenge are given, so every exchange is tested on the host.
//!
//! Reply codes as AICCU reads them (ayiya-spec.md §2.2): a reply starting
//! with `2` is success, lists and shows open with `201` and end with
//! `202`; anything refused is `400` (AICCU only looks at the first digit).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use super::{
    command::{self, Command},
    show,
};
use crate::{api::TunnelSpec, daemon::store::UserRow, tic::auth};

/// Failed logins a session may have; the last one closes it.
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// What the sessions are told about this PoP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop {
    /// `POP Id` in `tunnel list` and `tunnel show`; `pop show`'s name.
    pub id: String,
    /// The PoP's IPv4 addresses for `pop show` (empty: the address the
    /// client connected to).
    pub ipv4: Vec<Ipv4Addr>,
}

/// Where a session reads users and their tunnels (the store, read-only).
pub trait Directory {
    fn user(&self, name: &str) -> anyhow::Result<Option<UserRow>>;
    /// The tunnels `owner` owns, sorted by id.
    fn tunnels(&self, owner: &str) -> anyhow::Result<Vec<TunnelSpec>>;
}

/// What a line led to, besides its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    None,
    LoginOk {
        user: String,
    },
    LoginFailed {
        user: String,
    },
    /// A line that is no command of ours (for the rate-limited log).
    BadLine,
    /// The directory failed (the store): logged, the client told to retry.
    Internal(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<String>,
    /// Close the connection once the lines are sent.
    pub close: bool,
    pub event: Event,
}

impl Reply {
    fn one(line: impl Into<String>) -> Self {
        Self {
            lines: vec![line.into()],
            close: false,
            event: Event::None,
        }
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    fn with(mut self, event: Event) -> Self {
        self.event = event;
        self
    }
}

/// The one answer for a tunnel that is not the user's, or does not exist
/// (no oracle for other users' tunnel ids).
const NO_SUCH_TUNNEL: &str = "400 No such tunnel";
const NOT_LOGGED_IN: &str = "400 Not logged in: username, challenge md5 and authenticate md5 first";

/// The refusal of a line over the length limit (the session closes).
pub fn too_long(limit: usize) -> String {
    format!("400 Line too long (over {limit} bytes), closing")
}

pub const TOO_MANY_CONNECTIONS: &str = "400 too many connections, try again later";
pub const IDLE_TIMEOUT: &str = "400 Idle for too long, closing";
pub const SESSION_TIMEOUT: &str = "400 Session time limit reached, closing";

pub struct Session {
    pop: Arc<Pop>,
    peer: IpAddr,
    /// The address the client connected to (`pop show` without pop_ipv4).
    local: IpAddr,
    username: Option<String>,
    challenge: Option<String>,
    /// The logged-in user's name.
    user: Option<String>,
    failures: u32,
    new_challenge: fn() -> String,
}

impl Session {
    pub fn new(pop: Arc<Pop>, peer: IpAddr, local: IpAddr, new_challenge: fn() -> String) -> Self {
        Self {
            pop,
            peer,
            local,
            username: None,
            challenge: None,
            user: None,
            failures: 0,
            new_challenge,
        }
    }

    /// The first line the server sends.
    pub fn greeting(&self) -> String {
        format!("200 tunnelctl TIC Service on {} ready", self.pop.id)
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Answers one line (without its `\n`); `now` is Unix seconds.
    pub fn handle(&mut self, line: &[u8], dir: &dyn Directory, now: u64) -> Reply {
        match command::parse(line) {
            Command::Client(_) => Reply::one("200 Client Identity accepted"),
            Command::GetUnixtime => Reply::one(format!("200 {now}")),
            Command::Starttls => Reply::one("400 This service is not SSL enabled"),
            Command::Username(None) => Reply::one("400 A username is needed: username <name>"),
            Command::Username(Some(name)) => self.username(name),
            Command::Challenge(kind) => self.challenge(kind),
            Command::Authenticate { method, response } => self.authenticate(method, response, dir),
            Command::TunnelList => self.logged_in(dir, Self::tunnel_list),
            Command::TunnelShow(id) => self.logged_in(dir, |s, d| s.tunnel_show(id, d)),
            Command::RouteList => self.logged_in(dir, Self::route_list),
            Command::PopList => Reply {
                lines: vec![
                    "201 Listing PoPs".into(),
                    self.pop.id.clone(),
                    "202 <pop_list done>".into(),
                ],
                close: false,
                event: Event::None,
            },
            Command::PopShow(id) => self.pop_show(id),
            Command::Quit => Reply::one("200 Thank you for using this TIC service").closing(),
            Command::Empty => Reply::one("400 Empty command").with(Event::BadLine),
            Command::Garbage => {
                Reply::one("400 Invalid characters in command").with(Event::BadLine)
            }
            Command::Unknown => Reply::one("400 Unknown command").with(Event::BadLine),
        }
    }

    fn username(&mut self, name: &str) -> Reply {
        if self.user.is_some() {
            return Reply::one("400 Already logged in");
        }
        // Any name is taken here: whether it exists is only told, as a
        // login failure, once the password has been tried.
        self.username = Some(name.to_owned());
        self.challenge = None;
        Reply::one("200 Choose your authentication challenge please")
    }

    fn challenge(&mut self, kind: &str) -> Reply {
        if self.user.is_some() {
            return Reply::one("400 Already logged in");
        }
        if !kind.eq_ignore_ascii_case("md5") {
            return Reply::one("400 Unsupported challenge type, only md5 is");
        }
        if self.username.is_none() {
            return Reply::one("400 Give your username first");
        }
        let c = (self.new_challenge)();
        self.challenge = Some(c.clone());
        Reply::one(format!("200 {c}"))
    }

    fn authenticate(&mut self, method: &str, response: &str, dir: &dyn Directory) -> Reply {
        if self.user.is_some() {
            return Reply::one("400 Already logged in");
        }
        if !method.eq_ignore_ascii_case("md5") {
            return Reply::one("400 Unsupported authentication method, only md5 is");
        }
        // One try per challenge: a new one must be asked for each time.
        let (Some(name), Some(challenge)) = (self.username.clone(), self.challenge.take()) else {
            return Reply::one("400 Ask for a challenge first: challenge md5");
        };
        let user = match dir.user(&name) {
            Ok(u) => u,
            Err(e) => return internal(e),
        };
        let ok = match &user {
            Some(u) => auth::check(&challenge, &u.password_md5, response),
            // The same work for an unknown user: its time tells nothing.
            None => {
                let _ = auth::check(&challenge, "00000000000000000000000000000000", response);
                false
            }
        };
        match user {
            Some(u) if ok => {
                self.user = Some(u.name.clone());
                let full = u.full_name.as_deref().unwrap_or(&u.name);
                Reply::one(format!(
                    "200 Succesfully logged in using md5 as {} ({full}) from {}",
                    u.name, self.peer
                ))
                .with(Event::LoginOk { user: u.name })
            }
            _ => {
                self.failures += 1;
                let r = Reply::one("400 Login failed, login/password mismatch")
                    .with(Event::LoginFailed { user: name });
                if self.failures >= MAX_LOGIN_FAILURES {
                    r.closing()
                } else {
                    r
                }
            }
        }
    }

    /// Runs `f` for a logged-in user, or refuses.
    fn logged_in(
        &mut self,
        dir: &dyn Directory,
        f: impl FnOnce(&mut Self, &dyn Directory) -> Reply,
    ) -> Reply {
        if self.user.is_none() {
            return Reply::one(NOT_LOGGED_IN);
        }
        f(self, dir)
    }

    fn tunnels(&self, dir: &dyn Directory) -> anyhow::Result<Vec<TunnelSpec>> {
        dir.tunnels(self.user.as_deref().unwrap_or_default())
    }

    fn tunnel_list(&mut self, dir: &dyn Directory) -> Reply {
        let tunnels = match self.tunnels(dir) {
            Ok(t) => t,
            Err(e) => return internal(e),
        };
        let mut lines = vec!["201 Listing tunnels".to_owned()];
        // Tunnels TIC cannot hand out are left out of the list; `tunnel
        // show` says why.
        lines.extend(
            tunnels
                .iter()
                .filter(|t| show::password(t).is_ok())
                .map(|t| show::list_line(t, &self.pop.id)),
        );
        lines.push("202 <tunnel_list done>".into());
        list(lines)
    }

    fn tunnel_show(&mut self, id: &str, dir: &dyn Directory) -> Reply {
        let Some(id) = command::tunnel_id(id) else {
            return Reply::one(NO_SUCH_TUNNEL);
        };
        let tunnels = match self.tunnels(dir) {
            Ok(t) => t,
            Err(e) => return internal(e),
        };
        let Some(t) = tunnels.iter().find(|t| t.id == id) else {
            return Reply::one(NO_SUCH_TUNNEL);
        };
        match show::show_lines(t, &self.pop.id) {
            Ok(keys) => {
                let mut lines = vec![format!("201 Showing tunnel information for T{id}")];
                lines.extend(keys);
                lines.push("202 Done".into());
                list(lines)
            }
            Err(show::Unservable::KeyOnly) => Reply::one(format!(
                "400 Tunnel T{id} cannot be served over TIC: only its AYIYA key is stored, not its password (the operator must set the password again)"
            )),
        }
    }

    /// `R<n> T<id> <prefix>` for each routed prefix of the user's tunnels.
    fn route_list(&mut self, dir: &dyn Directory) -> Reply {
        let tunnels = match self.tunnels(dir) {
            Ok(t) => t,
            Err(e) => return internal(e),
        };
        let mut lines = vec!["201 Listing routes".to_owned()];
        let routes = tunnels
            .iter()
            .flat_map(|t| t.routed.iter().map(move |p| (t.id, p)));
        for (n, (id, p)) in routes.enumerate() {
            lines.push(format!("R{} T{id} {p}", n + 1));
        }
        lines.push("202 <route_list done>".into());
        list(lines)
    }

    fn pop_show(&self, id: &str) -> Reply {
        if id != self.pop.id {
            return Reply::one("400 No such PoP");
        }
        let v4: Vec<String> = if self.pop.ipv4.is_empty() {
            vec![self.local.to_string()]
        } else {
            self.pop.ipv4.iter().map(Ipv4Addr::to_string).collect()
        };
        list(vec![
            format!("201 Showing PoP information for {id}"),
            format!("POPId: {id}"),
            format!("IPv4: {}", v4.join(" ")),
            "202 Done".into(),
        ])
    }
}

fn list(lines: Vec<String>) -> Reply {
    Reply {
        lines,
        close: false,
        event: Event::None,
    }
}

fn internal(e: anyhow::Error) -> Reply {
    Reply::one("400 Temporary failure, try again later").with(Event::Internal(format!("{e:#}")))
}

#[cfg(test)]
mod tests;
