//! The client's tun device: opened with `tun-rs` (the TUNSETIFF ioctl and
//! its non-blocking tokio wrapper, so this crate needs no unsafe code of
//! its own), then configured over rtnetlink as the daemon configures its
//! devices: no link-local address, MTU, up, our `::2/64` (no DAD: the tunnel's other end is the
//! PoP, which never takes `::2`), optionally `::/0` through it. The
//! device is not persistent: the kernel removes it, with its address and
//! routes, when the client's descriptor closes, however the client ends.

use std::net::{IpAddr, Ipv6Addr};

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use rtnetlink::{
    packet_route::{
        address::{AddressAttribute, AddressHeaderFlags},
        link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute},
    },
    Handle, LinkUnspec, RouteMessageBuilder,
};
use tun_rs::{AsyncDevice, DeviceBuilder};

/// Opens the tun device `name` and configures it. Must run inside a tokio
/// runtime (the device registers with its reactor).
pub async fn open(
    name: &str,
    mtu: u16,
    local: Ipv6Addr,
    default_route: bool,
) -> Result<AsyncDevice> {
    let dev = DeviceBuilder::new()
        .name(name)
        .packet_information(false)
        // Down until configured (tun-rs brings devices up by default).
        .enable(false)
        .build_async()
        .with_context(|| {
            format!("creating tun device {name} (root or CAP_NET_ADMIN needed; is another client using that name?)")
        })?;
    let index = dev.if_index().with_context(|| format!("index of {name}"))?;

    let (conn, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
    let conn = tokio::spawn(conn);
    let r = configure(&handle, name, index, mtu, local, default_route).await;
    conn.abort();
    r?;
    Ok(dev)
}

async fn configure(
    handle: &Handle,
    name: &str,
    index: u32,
    mtu: u16,
    local: Ipv6Addr,
    default_route: bool,
) -> Result<()> {
    // No link-local address (the kernel would make one, then send router
    // solicitations from it): the PoP runs no ND inside tunnels and drops
    // link-scope packets, so they would only be counted there. Set while
    // the device is still down.
    let no_ll = LinkUnspec::new_with_index(index)
        .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
            vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
        )]))
        .build();
    handle
        .link()
        .set(no_ll)
        .execute()
        .await
        .with_context(|| format!("turning off link-local addresses on {name}"))?;
    let set = LinkUnspec::new_with_index(index)
        .mtu(u32::from(mtu))
        .up()
        .build();
    handle
        .link()
        .set(set)
        .execute()
        .await
        .with_context(|| format!("setting {name} up with MTU {mtu}"))?;

    let mut add = handle.address().add(index, IpAddr::V6(local), 64).replace();
    add.message_mut().header.flags = AddressHeaderFlags::Nodad;
    add.execute()
        .await
        .with_context(|| format!("adding {local}/64 to {name}"))?;

    if default_route {
        let route = RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(Ipv6Addr::UNSPECIFIED, 0)
            .output_interface(index)
            .build();
        handle
            .route()
            .add(route)
            .replace()
            .execute()
            .await
            .with_context(|| format!("adding the default route ::/0 via {name}"))?;
    }
    // Read back: the address is there (a kernel with IPv6 off on the
    // device would have refused above; this catches the rest).
    let mut found = false;
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(m) = addrs.try_next().await.context("reading addresses back")? {
        found |= m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V6(x)) if *x == local));
    }
    anyhow::ensure!(found, "{local}/64 did not stay on {name}");
    Ok(())
}
