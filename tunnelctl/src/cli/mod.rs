//! The CLI's verbs, one file each, and the client side of the API socket.

pub mod apply;
pub mod client;
pub mod output;
pub mod prefix;
pub mod proxy;
pub mod stats;
pub mod status;
pub mod tunnel;

pub use client::Client;
