//! Kernel images and their modules, from Debian's archive through apt
//! (`apt-get download`, no installation), cached and unpacked under
//! target/vm-cache.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

#[derive(Clone)]
pub struct Kernel {
    /// Short name for messages and directories: `6.1`, or the file name.
    pub label: String,
    /// The package (and version) it came from, for the report.
    pub package: String,
    /// The bzImage.
    pub image: PathBuf,
    /// `lib/modules/<release>` of the package; none for a bare image.
    pub modules: Option<PathBuf>,
}

/// Debian's names for the kernel lines we test: the metapackage that
/// follows each line, and the version prefix its image must have.
const LINES: [(&str, &str, &str); 2] = [
    ("6.1", "linux-image-amd64", "6.1."),
    ("6.12", "linux-image-6.12-amd64", "6.12."),
];

pub fn resolve(spec: &str, cache: &Path) -> Result<Kernel> {
    std::fs::create_dir_all(cache)?;
    if let Some(&(label, meta, prefix)) = LINES.iter().find(|(l, ..)| *l == spec) {
        let (deb, package) = download(meta, prefix, cache)?;
        return unpacked(label, package, &deb, cache);
    }
    let path = Path::new(spec);
    if !path.exists() {
        let lines: Vec<_> = LINES.iter().map(|l| l.0).collect();
        bail!(
            "--kernel {spec}: neither a known line ({}) nor an existing path",
            lines.join(", ")
        );
    }
    // linux-image-6.12.117+deb12-amd64_6.12.117-1~deb12u1_amd64.deb → 6.12.117+deb12-amd64
    let name = path
        .file_name()
        .map_or_else(|| spec.to_owned(), |n| n.to_string_lossy().into_owned());
    let label = name
        .trim_start_matches("linux-image-")
        .split('_')
        .next()
        .unwrap_or(&name)
        .to_owned();
    if path.is_dir() {
        return from_tree(&label, name, path);
    }
    if spec.ends_with(".deb") {
        return unpacked(&label, name, path, cache);
    }
    eprintln!("vm: {spec}: a bare kernel image; veth, tun and sit must be built in");
    Ok(Kernel {
        label,
        package: name,
        image: path.to_owned(),
        modules: None,
    })
}

/// The image package the metapackage `meta` points at, downloaded into
/// `cache` unless it is there. Returns the .deb and "name version".
fn download(meta: &str, prefix: &str, cache: &Path) -> Result<(PathBuf, String)> {
    let (pkg, version, file) = match candidate(meta) {
        Ok(c) => c,
        Err(e) => {
            // A fresh machine's package lists may predate the package.
            eprintln!("vm: {e:#}; running apt-get update");
            let updated = Command::new("apt-get").args(["update", "-qq"]).status();
            if !matches!(updated, Ok(s) if s.success()) {
                bail!("{e:#}, and apt-get update failed (it needs root and Debian's archive)");
            }
            candidate(meta)?
        }
    };
    if !version.starts_with(prefix) {
        bail!("{meta} now points at {pkg} {version}, not a {prefix}x kernel: update LINES in xtask/src/vm/kernel.rs");
    }
    let deb = cache.join(&file);
    if deb.exists() {
        eprintln!("vm: {pkg} {version}: cached");
    } else {
        eprintln!("vm: downloading {pkg} {version}");
        let mut cmd = Command::new("apt-get");
        // As root, apt downloads as user _apt, who may not write into target/.
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        let status = cmd
            .args(["download", "-q", &format!("{pkg}={version}")])
            .current_dir(cache)
            .status()
            .context("running apt-get (Debian's apt is needed to fetch kernels)")?;
        if !status.success() || !deb.exists() {
            bail!("apt-get download {pkg}={version} failed: is Debian's archive reachable?");
        }
    }
    Ok((deb, format!("{pkg} {version}")))
}

/// (package, version, .deb file name) of the candidate that `meta` depends on.
fn candidate(meta: &str) -> Result<(String, String, String)> {
    let deps = apt_cache(&["depends", "--no-recommends", "--no-suggests", meta])?;
    let pkg = deps
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .map(|p| p.trim_matches(|c| c == '<' || c == '>').to_owned())
        .with_context(|| format!("apt knows no package {meta}"))?;
    let show = apt_cache(&["show", "--no-all-versions", &pkg])?;
    let field = |name: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let version = field("Version:").with_context(|| format!("no Version for {pkg}"))?;
    let filename = field("Filename:").with_context(|| format!("no Filename for {pkg}"))?;
    let file = filename.rsplit('/').next().unwrap_or(&filename).to_owned();
    Ok((pkg, version, file))
}

fn apt_cache(args: &[&str]) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(args)
        .output()
        .context("running apt-cache")?;
    if !out.status.success() {
        bail!(
            "apt-cache {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Unpacks `deb` (dpkg-deb -x) under `cache` once, then reads the tree.
fn unpacked(label: &str, package: String, deb: &Path, cache: &Path) -> Result<Kernel> {
    let stem = deb
        .file_stem()
        .context("deb file name")?
        .to_string_lossy()
        .into_owned();
    let dir = cache.join(&stem);
    if !dir.exists() {
        let tmp = cache.join(format!("{stem}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(&tmp)
            .status()
            .context("running dpkg-deb")?;
        if !status.success() {
            bail!("dpkg-deb -x {} failed", deb.display());
        }
        std::fs::rename(&tmp, &dir)?;
    }
    from_tree(label, package, &dir)
}

/// An unpacked linux-image package: `boot/vmlinuz-*`, `[usr/]lib/modules/*`.
fn from_tree(label: &str, package: String, dir: &Path) -> Result<Kernel> {
    let image = only_entry(&dir.join("boot"), "vmlinuz-")?;
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|m| dir.join(m))
        .find(|m| m.is_dir())
        .map(|m| only_entry(&m, ""))
        .transpose()?;
    Ok(Kernel {
        label: label.to_owned(),
        package,
        image,
        modules,
    })
}

fn only_entry(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one {prefix}* in {}, found {}",
            dir.display(),
            found.len()
        ),
    }
}
