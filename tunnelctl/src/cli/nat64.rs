//! `tunnelctl nat64 pool6|eam|dns64-config`: stateless NAT64's pool6
//! (RFC 6052), its explicit address mappings (RFC 7757), and a DNS64
//! resolver's configuration for pool6.

use anyhow::{bail, Result};
use clap::{Subcommand, ValueEnum};

use super::{output, ApiClient};
use crate::{
    api::{EamSpec, Pool6Spec, Request, Response, UdpZeroChecksum},
    error::Error,
    prefix::{Ipv4Prefix, Ipv6Prefix},
};

#[derive(Subcommand)]
pub enum Nat64Cmd {
    /// pool6: the prefix IPv4 hosts are seen under (RFC 6052).
    #[command(subcommand)]
    Pool6(Pool6Cmd),
    /// Explicit address mappings (RFC 7757): an IPv6 prefix and an IPv4
    /// prefix that stand for each other.
    #[command(subcommand)]
    Eam(EamCmd),
    /// Print a DNS64 resolver's configuration for the daemon's pool6.
    Dns64Config {
        #[arg(value_enum)]
        server: Dns64Server,
    },
}

#[derive(Subcommand)]
pub enum Pool6Cmd {
    /// Set pool6 and its settings (options left out take their defaults).
    Set {
        /// The prefix, of length 32, 40, 48, 56, 64 or 96 (RFC 6052), e.g.
        /// 64:ff9b::/96.
        prefix: Ipv6Prefix,
        /// Refuse non-global IPv4 addresses behind the well-known prefix
        /// 64:ff9b::/96 (RFC 6052 section 3.1).
        #[arg(long, value_enum, default_value_t = OnOff::On)]
        wkp_strict: OnOff,
        /// IPv4 UDP without a checksum: compute one, or drop it (counted).
        #[arg(long, value_enum, default_value_t = Udp0::Drop)]
        udp_zero_checksum: Udp0,
        /// An IPv4 address of the PoP, or a pool of them (a prefix, /16 to
        /// /32), that ICMP errors from IPv6 routers (sources with no
        /// mapping) come from once translated (RFC 6791; each router gets
        /// one address of the pool); the first address is also the source
        /// of the translator's own errors. Without it those errors are
        /// dropped and counted.
        #[arg(long, value_name = "ADDR|PREFIX")]
        icmp_source: Option<crate::prefix::Ipv4Pool>,
    },
    /// Show pool6 and its settings.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Remove pool6: IPv6 toward it is no longer translated.
    Clear,
}

#[derive(Subcommand)]
pub enum EamCmd {
    /// Map an IPv6 prefix and an IPv4 prefix to each other.
    Add { v6: Ipv6Prefix, v4: Ipv4Prefix },
    /// Remove the mapping of an IPv6 prefix (with V4: only if it maps to
    /// that).
    Remove {
        v6: Ipv6Prefix,
        v4: Option<Ipv4Prefix>,
    },
    /// Every mapping.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Udp0 {
    Compute,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dns64Server {
    /// Unbound's `dns64` module.
    Unbound,
    /// BIND 9's `dns64` option.
    Bind9,
}

pub fn run(c: &mut ApiClient, cmd: Nat64Cmd) -> Result<()> {
    match cmd {
        Nat64Cmd::Pool6(Pool6Cmd::Set {
            prefix,
            wkp_strict,
            udp_zero_checksum,
            icmp_source,
        }) => {
            let pool6 = Pool6Spec {
                prefix,
                wkp_strict: wkp_strict == OnOff::On,
                udp_zero_checksum: match udp_zero_checksum {
                    Udp0::Compute => UdpZeroChecksum::Compute,
                    Udp0::Drop => UdpZeroChecksum::Drop,
                },
                icmp_source,
            };
            c.simple(Request::Nat64Pool6Set { pool6 })?;
            println!("pool6 {prefix} set");
        }
        Nat64Cmd::Pool6(Pool6Cmd::Show { json }) => {
            let pool6 = pool6(c)?;
            if json {
                return output::json(&pool6);
            }
            match pool6 {
                None => println!("no pool6 (tunnelctl nat64 pool6 set PREFIX/LEN)"),
                Some(p) => output::table(
                    &["POOL6", "WKP-STRICT", "UDP-ZERO-CHECKSUM", "ICMP-SOURCE"],
                    &[vec![
                        p.prefix.to_string(),
                        if p.wkp_strict { "on" } else { "off" }.into(),
                        p.udp_zero_checksum.name().into(),
                        p.icmp_source.map_or("-".into(), |a| a.to_string()),
                    ]],
                ),
            }
        }
        Nat64Cmd::Pool6(Pool6Cmd::Clear) => {
            c.simple(Request::Nat64Pool6Clear)?;
            println!("pool6 cleared");
        }
        Nat64Cmd::Eam(EamCmd::Add { v6, v4 }) => {
            c.simple(Request::Nat64EamAdd {
                eam: EamSpec { v6, v4 },
            })?;
            println!("{v6} mapped to {v4}");
        }
        Nat64Cmd::Eam(EamCmd::Remove { v6, v4 }) => {
            c.simple(Request::Nat64EamRemove { v6, v4 })?;
            println!("{v6} no longer mapped");
        }
        Nat64Cmd::Eam(EamCmd::List { json }) => {
            let Response::Eams { eams } = c.simple(Request::Nat64EamList)? else {
                bail!("unexpected response")
            };
            if json {
                return output::json(&eams);
            }
            let rows: Vec<Vec<String>> = eams
                .iter()
                .map(|e| vec![e.v6.to_string(), e.v4.to_string()])
                .collect();
            output::table(&["IPV6", "IPV4"], &rows);
        }
        Nat64Cmd::Dns64Config { server } => {
            let Some(p) = pool6(c)? else {
                return Err(Error::NotFound(
                    "no pool6 is set, so DNS64 has no prefix to synthesize under: \
                     set one first (tunnelctl nat64 pool6 set PREFIX/LEN)"
                        .into(),
                )
                .into());
            };
            print!("{}", dns64_config(server, &p.prefix));
        }
    }
    Ok(())
}

fn pool6(c: &mut ApiClient) -> Result<Option<Pool6Spec>> {
    let Response::Pool6 { pool6 } = c.simple(Request::Nat64Pool6Show)? else {
        bail!("unexpected response")
    };
    Ok(pool6)
}

/// The snippet that makes `server` synthesize AAAA records under `pool6`.
pub fn dns64_config(server: Dns64Server, pool6: &Ipv6Prefix) -> String {
    match server {
        Dns64Server::Unbound => format!(
            "# unbound.conf: DNS64 for this PoP's NAT64 (tunnelctl nat64 dns64-config unbound)\n\
             server:\n    module-config: \"dns64 validator iterator\"\n    dns64-prefix: {pool6}\n"
        ),
        Dns64Server::Bind9 => format!(
            "// named.conf: DNS64 for this PoP's NAT64 (tunnelctl nat64 dns64-config bind9)\n\
             options {{\n    dns64 {pool6} {{ }};\n}};\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns64_snippets() {
        let p: Ipv6Prefix = "64:ff9b::/96".parse().unwrap();
        let u = dns64_config(Dns64Server::Unbound, &p);
        assert!(
            u.contains("module-config: \"dns64 validator iterator\""),
            "{u}"
        );
        assert!(u.contains("dns64-prefix: 64:ff9b::/96"), "{u}");
        let b = dns64_config(Dns64Server::Bind9, &p);
        assert!(b.contains("dns64 64:ff9b::/96 { };"), "{b}");
    }
}
