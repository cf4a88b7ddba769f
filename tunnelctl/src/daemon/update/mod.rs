//! HE-style endpoint updates: `GET /nic/update?hostname=<tunnel id>
//! [&myip=<IPv4>]` with HTTP Basic (the tunnel's owner and its update
//! key), as tunnelbroker.net serves it to dyndns2 clients (ddclient,
//! OpenWrt's 6in4, routers): the remote of a static 6in4 tunnel moves to
//! the user's new address, in the store and the maps at once.
//!
//! - `request`: the HTTP request read into an update, or refused (pure);
//! - `decide`: the answer from the tunnel the store has (pure), with
//!   `limit`'s per-tunnel rate limit;
//! - `change`: the two against the engine, the change through `tunnel
//!   set`'s path;
//! - `answer`: the words clients read, and the counters of `/metrics`;
//! - `key`: update keys as the store keeps them (their SHA-256);
//! - `server`: the HTTP server (hyper), bounded per connection.
//!
//! Off unless `update_listen` is set.

pub mod answer;
mod change;
pub mod decide;
pub mod key;
pub mod limit;
pub mod request;
pub mod server;

pub use answer::Counters;
