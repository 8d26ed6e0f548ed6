#!/usr/bin/env bash
# Installs everything the ftpfs tests need on a Debian 12 machine, as root: servers and the
# programs the mount tests run (rsync, restic, borg) from apt, the fsx and pjdfstest programs
# with `cargo install` (crates.io).
#
# Why this shape:
# - vsftpd, proftpd-core and pure-ftpd all Conflict on `ftp-server`, so only vsftpd is installed
#   as a package; proftpd and pure-ftpd are `apt-get download`ed and unpacked with `dpkg -x` into
#   a private directory (FTPFS_SERVERS_DIR, default /var/tmp/ftpfs-servers) and run from there.
# - It must be cheap to run before every test run: every step checks first and does nothing
#   when its result is already present. `apt-get update` runs at most once, and only when a
#   package is actually missing.
# - libunftp has no Debian package: its server `unftp` is built from crates.io with
#   `cargo install --locked` (pinned version, only the JSON-file authenticator: no cloud
#   backends, a third of the crates) into SERVERS_DIR/unftp. That takes a few minutes on two
#   cores the first time and is skipped when the pinned version is already there.
# - vsftpd logs in real system users through PAM, so a test user with a known password and an
#   existing home is created here (start.sh re-sets the password every time it starts vsftpd).
set -euo pipefail

SERVERS_DIR="${FTPFS_SERVERS_DIR:-/var/tmp/ftpfs-servers}"
TOOLS_DIR="${FTPFS_TOOLS_DIR:-/var/tmp/ftpfs-tools}"
TEST_USER="${FTPFS_TEST_USER:-ftpfs-test}"
TEST_PASSWORD="${FTPFS_TEST_PASSWORD:-ftpfs-test-pw}"

export DEBIAN_FRONTEND=noninteractive

log() { echo "[servers/install] $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
    log "must run as root (installs packages and a system user)"
    exit 1
fi

apt_updated=0
apt_update_once() {
    if [[ "$apt_updated" == 0 ]]; then
        log "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
}

package_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

# Installs the named packages that are not installed yet. Updates the package lists first
# when they are missing (fresh machine) or once more when installing fails (stale lists).
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        package_installed "$package" || missing+=("$package")
    done
    [[ ${#missing[@]} == 0 ]] && return 0
    log "installing: ${missing[*]}"
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt_update_once
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        apt_update_once
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Runtime libraries of the unpacked proftpd-core (the memcache/redis/pcre2-posix ones are
# not on a minimal system) and pure-ftpd (libsodium) are installed above from their Depends.

# Binaries whose shared libraries all resolve (the unpacked servers only work with their libs).
binaries_resolve() {
    local binary
    for binary in "$@"; do
        [[ -x "$binary" ]] || return 1
        if ldd "$binary" 2>/dev/null | grep -q 'not found'; then
            return 1
        fi
    done
}

# Downloads PACKAGE's .deb with apt and unpacks it into DEST (no dpkg database entry, so it
# does not conflict with the installed vsftpd).
unpack_package() {
    local package="$1" dest="$2"
    local download_dir
    download_dir="$(mktemp -d)"
    chmod 755 "$download_dir"
    log "downloading and unpacking $package into $dest"
    if ! (cd "$download_dir" && apt-get download -qq "$package" 2>/dev/null); then
        apt_update_once
        (cd "$download_dir" && apt-get download -qq "$package")
    fi
    mkdir -p "$dest"
    local deb
    for deb in "$download_dir"/*.deb; do
        dpkg -x "$deb" "$dest"
    done
    rm -rf "$download_dir"
}

ensure_packages vsftpd fuse3 rsync curl openssl iproute2 python3 python3-pyftpdlib passwd \
    libhiredis0.14 libmemcached11 libmemcachedutil2 libhashkit2 libpcre2-posix3 libidn2-0 \
    libssl3 libsodium23 libacl1-dev
# The backup programs tests/writeback_backups.rs runs on a write-back mount.
ensure_packages restic borgbackup

PROFTPD_ROOT="$SERVERS_DIR/proftpd"
PUREFTPD_ROOT="$SERVERS_DIR/pure-ftpd"
if ! binaries_resolve "$PROFTPD_ROOT/usr/sbin/proftpd"; then
    unpack_package proftpd-core "$PROFTPD_ROOT"
fi
if ! binaries_resolve "$PUREFTPD_ROOT/usr/sbin/pure-ftpd" "$PUREFTPD_ROOT/usr/bin/pure-pw"; then
    unpack_package pure-ftpd "$PUREFTPD_ROOT"
fi
for binary in "$PROFTPD_ROOT/usr/sbin/proftpd" "$PUREFTPD_ROOT/usr/sbin/pure-ftpd" \
    "$PUREFTPD_ROOT/usr/bin/pure-pw"; do
    if ! binaries_resolve "$binary"; then
        log "$binary is missing or has unresolved libraries:"
        ldd "$binary" >&2 || true
        exit 1
    fi
done

UNFTP_VERSION=0.16.0
UNFTP_ROOT="$SERVERS_DIR/unftp"
if [[ "$("$UNFTP_ROOT/bin/unftp" --version 2>/dev/null)" != *"$UNFTP_VERSION"* ]]; then
    command -v cargo >/dev/null || { log "cargo is needed to build unftp"; exit 1; }
    log "building unftp $UNFTP_VERSION from crates.io into $UNFTP_ROOT (a few minutes)"
    started=$SECONDS
    cargo install --quiet --locked --no-default-features --features auth_jsonfile \
        --root "$UNFTP_ROOT" --version "$UNFTP_VERSION" unftp
    log "unftp built in $((SECONDS - started)) s"
fi

# vsftpd's chroot jail for its unprivileged helper; it refuses to start without it.
mkdir -p /var/run/vsftpd/empty

if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    log "creating system user $TEST_USER"
    useradd --system --create-home --home-dir "/var/tmp/$TEST_USER-home" --shell /bin/bash \
        "$TEST_USER"
    echo "$TEST_USER:$TEST_PASSWORD" | chpasswd
fi
home_dir="$(getent passwd "$TEST_USER" | cut -d: -f6)"
if [[ ! -d "$home_dir" ]]; then
    mkdir -p "$home_dir"
    chown "$TEST_USER:" "$home_dir"
fi

# The POSIX test programs tests/fsx.rs and tests/pjdfstest.rs run, from crates.io, pinned (the
# versions must match tests/posix_tools/mod.rs: the expected-failures list names pjdfstest's
# tests). Built once into TOOLS_DIR (a few minutes), skipped when that version is there.
# pjdfstest links libacl (libacl1-dev above).
ensure_cargo_tool() {
    local crate="$1" version="$2"
    if [[ "$("$TOOLS_DIR/bin/$crate" --version 2>/dev/null)" == "$crate $version" ]]; then
        return 0
    fi
    log "cargo install $crate $version into $TOOLS_DIR"
    cargo install --quiet --locked --root "$TOOLS_DIR" --version "$version" "$crate"
}
ensure_cargo_tool fsx 0.3.2
ensure_cargo_tool pjdfstest 0.2.2

log "ready (servers in $SERVERS_DIR, tools in $TOOLS_DIR, vsftpd user $TEST_USER)"
