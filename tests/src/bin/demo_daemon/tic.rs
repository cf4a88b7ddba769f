//! The TIC part: a user behind a NAT logs in with `tunnelctl client --tic`
//! (AICCU's login: user and password only; the tunnel's PoP, prefix, MTU
//! and password come over TIC) and gets IPv6 (`tunnel_tests::ayiya_nat`'s
//! AYIYA bed, its daemon with `tic_listen`).

use anyhow::Result;
use tunnel_tests::ayiya_nat::{
    AyiyaBed, ClientProc, CLIENT_V4, NAT_PUBLIC_V4, POP_V4, PORTS_A, UPSTREAM_V6, USER_V6,
};

use crate::common::{ctl, indent, ping};

const USER: &str = "JOHN1-SIXXS";

pub fn tic(failed: &mut Vec<&'static str>) -> Result<()> {
    println!(
        "\n== TIC: a user behind a NAT ({CLIENT_V4} masqueraded as {NAT_PUBLIC_V4}) \
         logs in with `tunnelctl client --tic` and gets IPv6"
    );
    let mut b = AyiyaBed::new()?;
    let tic = format!("{POP_V4}:3874");
    b.daemon.stop()?;
    b.daemon.config_with(
        "tunnelctl.toml",
        &[
            ("tic_listen", &format!("\"{tic}\"")),
            ("pop_id", "\"pop-demo\""),
        ],
    )?;
    b.daemon.start()?;
    println!("\n# config: tic_listen = \"{tic}\", pop_id = \"pop-demo\"; AYIYA tunnel 1 as in the AYIYA part");
    let pw = b.daemon.dir.join("john.pw");
    std::fs::write(&pw, "examplepassword\n")?;
    let pw = pw.display().to_string();
    ctl(
        &b.daemon,
        &[
            "user",
            "add",
            USER,
            "--full-name",
            "John Doe",
            "--password-file",
            &pw,
        ],
    )?;
    ctl(&b.daemon, &["tunnel", "set", "1", "--owner", USER])?;

    let args = ["--tic", POP_V4, "--user", USER, "--password-file", &pw];
    println!(
        "\n$ tunnelctl client {} --default-route   # on the user's host",
        args.join(" ")
    );
    b.client_proc = Some(ClientProc::start_args(&b.client, &args)?);
    b.wait_endpoint(PORTS_A)?;
    b.wait_tunnel_up()?;
    let log = b.client_log();
    print!(
        "{}",
        indent(
            &log.lines()
                .filter(|l| l.contains("TIC"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    ctl(&b.daemon, &["tunnel", "show", "1"])?;
    for (what, netns, dst) in [
        ("user -> upstream", &b.client, UPSTREAM_V6),
        ("upstream -> user", &b.upstream, USER_V6),
    ] {
        if ping(netns, what, &["-c", "3", "-i", "0.2", dst])? != 3 {
            failed.push("tic ping");
        }
    }
    Ok(())
}
