//! The PoP's user-space side: the loader library for the XDP datapath
//! (`datapath`), the daemon (`daemon`), the API both sides of the socket
//! share (`api`, and its errors: `error`), and the CLI's verbs (`cli`).

pub mod api;
pub mod cli;
pub mod daemon;
pub mod datapath;
pub mod error;
pub mod prefix;

pub use datapath::{Datapath, DatapathOptions, Tunnel};
pub use prefix::Ipv6Prefix;
