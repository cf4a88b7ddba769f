//! The CLI's verbs, one file each, and the client side of the API socket
//! (`api_client`).

pub mod api_client;
pub mod apply;
pub mod client;
pub mod client_tic;
pub mod nat64;
pub mod output;
pub mod password;
pub mod prefix;
pub mod proxy;
pub mod stats;
pub mod status;
pub mod tunnel;
pub mod user;

pub use api_client::ApiClient;

use crate::{api::ErrorCode, error::Error};

/// The exit status for an error code: stable, for scripts (README, "Exit
/// codes and API errors"). 2 is also what clap exits with on a usage error.
pub fn exit_status(code: ErrorCode) -> i32 {
    match code {
        ErrorCode::Internal => 1,
        ErrorCode::Invalid => 2,
        ErrorCode::NotFound => 3,
        ErrorCode::Conflict => 4,
        ErrorCode::MapFull => 5,
        ErrorCode::Busy => 6,
        ErrorCode::UnsupportedVersion => 7,
        ErrorCode::PermissionDenied => 8,
    }
}

/// The code of a failed command: the `Error` in its chain, else internal
/// (an I/O failure, an unexpected response).
pub fn error_code(e: &anyhow::Error) -> ErrorCode {
    e.downcast_ref::<Error>()
        .map_or(ErrorCode::Internal, Error::code)
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn exit_statuses_are_distinct_and_stable() {
        let all: Vec<i32> = ErrorCode::ALL.iter().map(|c| exit_status(*c)).collect();
        assert_eq!(all, [3, 4, 2, 5, 6, 7, 8, 1]);
    }

    #[test]
    fn the_code_survives_context() {
        let e =
            anyhow::Error::from(Error::MapFull("prefix map is full".into())).context("tunnel 4");
        assert_eq!(error_code(&e), ErrorCode::MapFull);
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("read timed out")).context("reading");
        assert_eq!(error_code(&e.unwrap_err()), ErrorCode::Internal);
    }
}
