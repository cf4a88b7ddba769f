//! What TIC tells about a tunnel: the `tunnel list` line and the `tunnel
//! show` keys, spelled exactly as AICCU matches them (case-sensitive
//! prefixes, ayiya-spec.md §2.2). Pure.

use crate::api::{TunnelKind, TunnelSpec};

/// Seconds between a client's beats; AICCU beats in a tight loop when
/// it is missing or 0, so it is always sent (SixXS's value).
pub const HEARTBEAT_INTERVAL: u32 = 60;

/// TIC's name for the tunnel type.
pub fn tic_type(k: TunnelKind) -> &'static str {
    match k {
        TunnelKind::Sixin4 => "6in4",
        TunnelKind::Heartbeat => "6in4-heartbeat",
        TunnelKind::Ayiya => "ayiya",
    }
}

/// `IPv4 Endpoint`: the user's address for a static tunnel, else how the
/// PoP learns it.
fn ipv4_endpoint(t: &TunnelSpec) -> String {
    match (t.kind, t.remote) {
        (TunnelKind::Sixin4, Some(r)) => r.to_string(),
        (TunnelKind::Heartbeat, _) => "heartbeat".into(),
        _ => "ayiya".into(),
    }
}

/// One `tunnel list` line: `T<id> <ipv6-endpoint> <ipv4-endpoint> <pop-id>`
/// (AICCU wants exactly these four fields).
pub fn list_line(t: &TunnelSpec, pop_id: &str) -> String {
    format!(
        "T{} {} {} {pop_id}",
        t.id,
        t.prefix.host(2),
        ipv4_endpoint(t)
    )
}

/// Why a tunnel cannot be handed out over TIC.
#[derive(Debug, PartialEq, Eq)]
pub enum Unservable {
    /// Only its AYIYA key (`sha1:<hex>`, what older releases stored) is
    /// kept: the client needs the password itself.
    KeyOnly,
}

/// The password TIC hands out (`None` for static tunnels, which have
/// none), or why there is none to hand out (`secrets::password`: a store
/// that keeps only the AYIYA key).
pub fn password(t: &TunnelSpec) -> Result<Option<&str>, Unservable> {
    if !t.kind.has_secret() {
        return Ok(None);
    }
    crate::daemon::secrets::password(t)
        .map(Some)
        .map_err(|_| Unservable::KeyOnly)
}

/// The `Key: value` lines of `tunnel show`, between its 201 and 202.
pub fn show_lines(t: &TunnelSpec, pop_id: &str) -> Result<Vec<String>, Unservable> {
    let state = if t.enabled { "enabled" } else { "disabled" };
    let mut v = vec![
        format!("TunnelId: T{}", t.id),
        format!("Type: {}", tic_type(t.kind)),
        format!("IPv6 Endpoint: {}", t.prefix.host(2)),
        format!("IPv6 POP: {}", t.prefix.host(1)),
        format!("IPv6 PrefixLength: {}", t.prefix.len()),
        format!("Tunnel MTU: {}", t.mtu),
        format!("Tunnel Name: T{}", t.id),
        format!("POP Id: {pop_id}"),
        format!("IPv4 Endpoint: {}", ipv4_endpoint(t)),
        format!("IPv4 POP: {}", t.local),
        format!("UserState: {state}"),
        format!("AdminState: {state}"),
    ];
    if let Some(pw) = password(t)? {
        v.push(format!("Password: {pw}"));
    }
    v.push(format!("Heartbeat_Interval: {HEARTBEAT_INTERVAL}"));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(json: serde_json::Value) -> TunnelSpec {
        let mut base = serde_json::json!({
            "id": 1, "local": "192.0.2.1", "prefix": "2001:db8:2ff:1::/64",
        });
        base.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    /// The spec's T5072-style AYIYA tunnel: every key AICCU acts on.
    #[test]
    fn ayiya_tunnel() {
        let a = t(serde_json::json!({"kind": "ayiya", "mtu": 1280,
            "secret": "f3d47c2de40fb698e1ab15d757a09bfc"}));
        assert_eq!(list_line(&a, "pop01"), "T1 2001:db8:2ff:1::2 ayiya pop01");
        assert_eq!(
            show_lines(&a, "pop01").unwrap(),
            [
                "TunnelId: T1",
                "Type: ayiya",
                "IPv6 Endpoint: 2001:db8:2ff:1::2",
                "IPv6 POP: 2001:db8:2ff:1::1",
                "IPv6 PrefixLength: 64",
                "Tunnel MTU: 1280",
                "Tunnel Name: T1",
                "POP Id: pop01",
                "IPv4 Endpoint: ayiya",
                "IPv4 POP: 192.0.2.1",
                "UserState: enabled",
                "AdminState: enabled",
                "Password: f3d47c2de40fb698e1ab15d757a09bfc",
                "Heartbeat_Interval: 60",
            ]
        );
    }

    #[test]
    fn other_kinds_and_states() {
        let s = t(serde_json::json!({"remote": "198.51.100.2", "enabled": false}));
        assert_eq!(list_line(&s, "p"), "T1 2001:db8:2ff:1::2 198.51.100.2 p");
        let lines = show_lines(&s, "p").unwrap();
        assert!(lines.contains(&"Type: 6in4".into()));
        assert!(lines.contains(&"IPv4 Endpoint: 198.51.100.2".into()));
        assert!(lines.contains(&"UserState: disabled".into()));
        assert!(lines.contains(&"AdminState: disabled".into()));
        assert!(!lines.iter().any(|l| l.starts_with("Password")));
        let h = t(serde_json::json!({"kind": "heartbeat", "secret": "hartslag"}));
        assert_eq!(list_line(&h, "p"), "T1 2001:db8:2ff:1::2 heartbeat p");
        let lines = show_lines(&h, "p").unwrap();
        assert!(lines.contains(&"Type: 6in4-heartbeat".into()));
        assert!(lines.contains(&"Password: hartslag".into()));
    }

    /// An old store's AYIYA key is no password: refused, not handed out.
    #[test]
    fn key_only_secrets_are_not_served() {
        let k = t(serde_json::json!({"kind": "ayiya",
            "secret": "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba"}));
        assert_eq!(show_lines(&k, "p"), Err(Unservable::KeyOnly));
        // A password that merely starts like one is a password.
        let p = t(serde_json::json!({"kind": "ayiya", "secret": "sha1:short"}));
        assert!(show_lines(&p, "p").is_ok());
    }
}
