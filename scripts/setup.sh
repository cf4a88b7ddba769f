#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine of this kind (root, kernel
# with BPF/XDP). Installs the eBPF toolchain (Debian rustc-web + bpf-linker
# against the same LLVM major), the tools the tests use, links the rustup
# toolchain name aya-build expects, and mounts bpffs. Safe to run repeatedly.
set -euo pipefail

LLVM_MAJOR=22
BPF_LINKER_VERSION=0.13.0
TOOLCHAIN_NAME=debian-web
APT_PACKAGES=(rustc-web cargo-web libstd-rust-web-dev-bpf "llvm-${LLVM_MAJOR}-dev"
  bpftool iproute2 iputils-ping ethtool tcpdump libpcap-dev
  # l2_client: the NAT in front of the AYIYA client (masquerade, and its
  # mappings listed and flushed).
  nftables conntrack
  # l2_update: the users' HTTP requests to /nic/update.
  curl
  # l2_dns64 and the demo: Unbound as DNS64 resolver (and as the test zone's
  # authoritative server). They run their own instances with their own
  # config files; the system's service is kept off (below).
  unbound
  # cargo xtask bench and the diff_tayga test: Tayga, the NAT64 paths'
  # anchor (run on its own config under a temporary directory, never as
  # the packaged service).
  tayga
  # cargo xtask vm: QEMU for the kernel matrix, strip for the initramfs, xz
  # for Debian's compressed kernel modules.
  qemu-system-x86 binutils xz-utils)

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (BPF, apt and network namespaces need it)"
command -v cargo >/dev/null || die "cargo not found: a rustup stable toolchain is expected on this machine kind"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Start no service while installing (unbound's would take port 53, and a
  # failed start fails its postinst): a policy-rc.d refusing every start,
  # for the install only, unless the machine has one of its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # --no-install-recommends: otherwise clang and lld of the same LLVM come too.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if trap -p EXIT | grep -q policy-rc.d; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

# No system-wide unbound or tayga: the tests, the demo and the bench run
# their own.
for svc in unbound tayga; do
  if [ -d /run/systemd/system ]; then
    if systemctl is-enabled --quiet "$svc.service" 2>/dev/null || systemctl is-active --quiet "$svc.service"; then
      log "stopping and disabling the system's $svc service"
      systemctl disable --now --quiet "$svc.service"
    fi
  elif [ -x "/etc/init.d/$svc" ]; then
    if "/etc/init.d/$svc" status >/dev/null 2>&1; then
      log "stopping the system's $svc service"
      "/etc/init.d/$svc" stop >/dev/null
    fi
    if compgen -G "/etc/rc[2-5].d/S*$svc" >/dev/null; then
      log "disabling the system's $svc service at boot"
      update-rc.d "$svc" disable >/dev/null 2>&1
    fi
  fi
done

# aya-build runs `rustup run <name> cargo ...`: give Debian's compiler a name.
if ! rustup toolchain list | grep -q "^${TOOLCHAIN_NAME}"; then
  log "linking rustup toolchain ${TOOLCHAIN_NAME} -> /usr"
  rustup toolchain link "${TOOLCHAIN_NAME}" /usr
fi

rustc_llvm=$(rustc +"${TOOLCHAIN_NAME}" -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
[ -n "$rustc_llvm" ] || die "cannot read the LLVM version of rustc +${TOOLCHAIN_NAME}"
if [ "$rustc_llvm" != "$LLVM_MAJOR" ]; then
  die "Debian's rustc-web now uses LLVM ${rustc_llvm}, this script expects ${LLVM_MAJOR}: \
set LLVM_MAJOR=${rustc_llvm} in scripts/setup.sh (llvm-${rustc_llvm}-dev and bpf-linker feature llvm-${rustc_llvm})"
fi

need_linker=1
if command -v bpf-linker >/dev/null; then
  have=$(bpf-linker --version 2>/dev/null | awk '{print $2}')
  linker_llvm=$(ldd "$(command -v bpf-linker)" | sed -n 's/.*libLLVM\(-\|\.so\.\)\([0-9]*\).*/\2/p' | head -1)
  if [ "$have" = "$BPF_LINKER_VERSION" ] && [ "$linker_llvm" = "$LLVM_MAJOR" ]; then
    need_linker=0
  else
    log "bpf-linker ${have:-?} uses LLVM ${linker_llvm:-?}; want ${BPF_LINKER_VERSION} with LLVM ${LLVM_MAJOR}: rebuilding"
  fi
fi
if [ "$need_linker" = 1 ]; then
  log "building bpf-linker ${BPF_LINKER_VERSION} against LLVM ${LLVM_MAJOR} (about a minute)"
  LLVM_PREFIX="/usr/lib/llvm-${LLVM_MAJOR}" cargo install --quiet --locked --force \
    bpf-linker --version "${BPF_LINKER_VERSION}" --no-default-features --features "llvm-${LLVM_MAJOR}"
fi

if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  log "mounting bpffs at /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
log "ok: rustc +${TOOLCHAIN_NAME} and bpf-linker both on LLVM ${LLVM_MAJOR}"
