//! SixXS's heartbeat protocol (`ayiya-spec.md` §2.1): the user of a
//! dynamic 6in4 tunnel tells the PoP, in a signed line on UDP 3740, where
//! it is; the PoP sends proto-41 there until the next beat.
//!
//! - `codec`: building and parsing the line, the MD5 check, and the
//!   reasons a beat is refused (shared by the daemon's listener and the
//!   client).

pub mod codec;

pub use codec::{Beat, Refusal, Sender};
