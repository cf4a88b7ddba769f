//! TIC (Tunnel Information & Control, TCP 3874): what the server in the
//! daemon and `tunnelctl client --tic` share (ayiya-spec.md §2.2).

pub mod auth;
pub mod client;
