//! The PoP's user-space side: the loader library for the XDP datapath
//! (`datapath`), the daemon (`daemon`), the API both sides of the socket
//! share (`api`, and its errors: `error`), the CLI's verbs (`cli`) and the
//! AYIYA client (`ayiya_client`); the heartbeat protocol's codec
//! (`heartbeat`) and client (`heartbeat_client`); TIC's shared pieces
//! (`tic`).

pub mod api;
pub mod ayiya_client;
pub mod cli;
pub mod daemon;
pub mod datapath;
pub mod error;
pub mod heartbeat;
pub mod heartbeat_client;
pub mod prefix;
pub mod tic;

pub use datapath::{Datapath, DatapathOptions, Tunnel};
pub use prefix::{Ipv4Prefix, Ipv6Prefix};
