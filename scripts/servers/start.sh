#!/usr/bin/env bash
# Starts one real FTP server in the FOREGROUND on 127.0.0.1 for tests, the demo and benchmarks.
#
#   start.sh KIND ROOT PORT PASV_LO PASV_HI USER PASSWORD STATEDIR [EXTRA_CONFIG_FILE]
#
# KIND is vsftpd | proftpd | pureftpd | pyftpdlib | unftp. The script writes the server's config into
# STATEDIR and then `exec`s the server, so the PID of this script IS the server's PID. Start it
# in its own process group and SIGKILL that group to stop it: proftpd/pure-ftpd sessions are in
# the group; vsftpd sessions call setsid() but die with their parent (the Rust harness also
# kills them by pid). Run scripts/servers/install.sh first.
#
# Every kind gives the same picture to a client:
# - control on 127.0.0.1:PORT, passive data ports PASV_LO..PASV_HI advertised as 127.0.0.1;
# - USER/PASSWORD logs in with "/" = ROOT (chrooted), may write, overwrite, resume (REST STOR),
#   append (APPE), rename, delete, mkdir/rmdir and set modification times;
# - dotfiles are listed; times are UTC; files are created 0644, directories 0755;
# - at least 16 simultaneous connections per client IP and per user;
# - anonymous read-only login on ROOT for vsftpd, proftpd and pyftpdlib (not pure-ftpd: its
#   anonymous root is always the home of the system user "ftp", so it is switched off with -E).
#
# Who owns the files the server writes:
# - vsftpd logs in SYSTEM users through PAM, so USER must be a system account. This script
#   creates it when missing and (re)sets its password when PASSWORD does not match, under a lock
#   because parallel tests start many servers at once. ROOT is chown'ed to USER.
# - proftpd and pure-ftpd use VIRTUAL users (a private passwd file in STATEDIR) mapped to the
#   uid/gid of the system account FTPFS_TEST_USER (default ftpfs-test, made by install.sh);
#   ROOT is chown'ed to it. USER/PASSWORD can be anything.
# - pyftpdlib and unftp (libunftp) run as root and write files as root.
# Tests that seed files into ROOT while the server runs must give them to the same owner
# (the Rust harness does that) or the server cannot overwrite/delete them.
#
# EXTRA_CONFIG_FILE means, per kind:
# - vsftpd: its lines are appended to the config (vsftpd takes the LAST value of a repeated
#   setting, so they override the defaults here), e.g. `max_per_ip=2`, ssl_enable=YES + certs.
# - proftpd: its lines are put BEFORE the defaults (proftpd takes the FIRST value of a
#   repeated directive), e.g. `MaxClientsPerHost 2`. The Debian proftpd-core build has no
#   mod_tls (that is in proftpd-mod-crypto), so TLS tests should use vsftpd or pure-ftpd.
# - pureftpd: extra command-line options, one per line (e.g. `-C 2`, `--tls=1`), added after
#   the defaults (pure-ftpd also takes the last value).
# - pyftpdlib: Python statements run after the defaults and before serving; `handler`
#   (the FTPHandler subclass), `authorizer` and `server` are in scope (e.g.
#   `handler.max_cons_per_ip = 2` or `server.max_cons_per_ip = 2`).
# - unftp: extra command-line options, one per line (e.g. `--idle-session-timeout 5`).
#
# Per-server quirks handled here (see /work/shared/SERVERS.md):
# - vsftpd needs force_dot_files=YES for dotfiles, mdtm_write=YES for `MDTM time path`, its
#   seccomp sandbox off, and a secure_chroot_dir that exists.
# - proftpd: `ListOptions "-A"` (not -a: that puts . and .. into NLST), own PidFile,
#   ScoreboardFile and DelayTable in STATEDIR; IdentLookups is unknown in this build.
# - pure-ftpd: -D lists dotfiles but also `.` and `..` in LIST and NLST (clients must skip
#   those two names, which any client has to do anyway; MLSD has them as type=cdir/pdir, as
#   in proftpd); without -D dotfiles would be invisible, which is
#   worse for a filesystem. Max clients is silently clamped to half the passive range, so the
#   range must be at least 2x the clients wanted. -L raised so big directories list fully.
#   The password hash is SHA-512 crypt (`openssl passwd -6`): the argon2id default of pure-pw
#   costs ~3 s per login here.
# - pyftpdlib: the wrong-password delay is cut from 3 s to 0.2 s to keep tests fast.
# - unftp: built from crates.io by install.sh (only the JSON-file authenticator, no cloud
#   backends). It always starts an HTTP metrics listener (default 0.0.0.0:8080), so that gets
#   the LAST port of the passive range and the data ports are the rest. Users come from a
#   plaintext JSON file; there is no anonymous login (the JSON authenticator has none).
set -euo pipefail

usage() {
    echo "usage: $0 vsftpd|proftpd|pureftpd|pyftpdlib|unftp ROOT PORT PASV_LO PASV_HI USER PASSWORD STATEDIR [EXTRA_CONFIG_FILE]" >&2
    exit 2
}

[[ $# -eq 8 || $# -eq 9 ]] || usage
KIND="$1" ROOT="$2" PORT="$3" PASV_LO="$4" PASV_HI="$5" FTP_USER="$6" FTP_PASSWORD="$7"
STATEDIR="$8" EXTRA="${9:-}"

SERVERS_DIR="${FTPFS_SERVERS_DIR:-/var/tmp/ftpfs-servers}"
FILE_OWNER="${FTPFS_TEST_USER:-ftpfs-test}"
# Cap on pure-ftpd's clients (total and per IP); the others run without a limit.
MAX_CONNECTIONS=32

log() { echo "[servers/start $KIND:$PORT] $*" >&2; }
die() {
    log "$*"
    exit 1
}

for number in "$PORT" "$PASV_LO" "$PASV_HI"; do
    [[ "$number" =~ ^[0-9]+$ ]] || die "not a port number: $number"
done
[[ -d "$ROOT" ]] || die "ROOT $ROOT is not a directory"
[[ -z "$EXTRA" || -f "$EXTRA" ]] || die "EXTRA_CONFIG_FILE $EXTRA does not exist"
mkdir -p "$STATEDIR"
ROOT="$(cd "$ROOT" && pwd -P)"
# Anonymous logins run as an unprivileged user that must be able to read ROOT.
chmod go+rx "$ROOT"
STATEDIR="$(cd "$STATEDIR" && pwd -P)"

# Appends the extra config lines (if any) to FILE.
append_extra() {
    if [[ -n "$EXTRA" ]]; then
        printf '\n# extra config from %s\n' "$EXTRA" >>"$1"
        cat "$EXTRA" >>"$1"
        printf '\n' >>"$1"
    fi
}

# Reads EXTRA (if any) as command-line options, one per line ("-C 2" becomes two words; blank
# lines and # comments are skipped), into the array EXTRA_ARGS.
EXTRA_ARGS=()
extra_options() {
    [[ -n "$EXTRA" ]] || return 0
    local line words
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ -z "${line// /}" || "$line" == \#* ]] && continue
        read -r -a words <<<"$line"
        EXTRA_ARGS+=("${words[@]}")
    done <"$EXTRA"
}

# Makes sure system user $1 exists and has password $2 (SHA-512 hash so it can be checked
# with openssl without PAM). Serialised with flock: chpasswd/useradd lock /etc/shadow and give
# up when several tests start vsftpd at the same moment.
ensure_system_user() {
    local user="$1" password="$2"
    mkdir -p /run/lock
    exec 9>/run/lock/ftpfs-test-users.lock
    flock 9
    if ! id -u "$user" >/dev/null 2>&1; then
        log "creating system user $user"
        useradd --system --create-home --home-dir "/var/tmp/$user-home" --shell /bin/bash "$user"
    fi
    local home_dir
    home_dir="$(getent passwd "$user" | cut -d: -f6)"
    if [[ ! -d "$home_dir" ]]; then
        mkdir -p "$home_dir"
        chown "$user:" "$home_dir"
    fi
    local current_hash salt
    current_hash="$(getent shadow "$user" | cut -d: -f2)"
    salt="$(cut -d'$' -f3 <<<"$current_hash")"
    if [[ "$current_hash" != \$6\$* ||
        "$current_hash" != "$(openssl passwd -6 -salt "$salt" "$password")" ]]; then
        echo "$user:$password" | chpasswd -c SHA512
    fi
    flock -u 9
    exec 9>&-
}

start_vsftpd() {
    command -v vsftpd >/dev/null || die "vsftpd is not installed (run scripts/servers/install.sh)"
    ensure_system_user "$FTP_USER" "$FTP_PASSWORD"
    chown "$FTP_USER:" "$ROOT"
    mkdir -p /var/run/vsftpd/empty
    local config="$STATEDIR/vsftpd.conf"
    cat >"$config" <<CONF
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=$PORT
ftpd_banner=ftpfs test vsftpd
local_enable=YES
write_enable=YES
local_umask=022
file_open_mode=0666
local_root=$ROOT
chroot_local_user=YES
allow_writeable_chroot=YES
passwd_chroot_enable=NO
userlist_enable=NO
pam_service_name=vsftpd
anonymous_enable=YES
anon_root=$ROOT
no_anon_password=YES
anon_upload_enable=NO
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
pasv_enable=YES
pasv_min_port=$PASV_LO
pasv_max_port=$PASV_HI
pasv_address=127.0.0.1
pasv_addr_resolve=NO
port_enable=YES
connect_from_port_20=NO
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
isolate_network=NO
force_dot_files=YES
mdtm_write=YES
utf8_filesystem=YES
use_localtime=NO
dirmessage_enable=NO
max_clients=0
max_per_ip=0
max_login_fails=3
delay_failed_login=1
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file=$STATEDIR/vsftpd.log
CONF
    append_extra "$config"
    exec vsftpd "$config"
}

start_proftpd() {
    local proftpd="$SERVERS_DIR/proftpd/usr/sbin/proftpd"
    [[ -x "$proftpd" ]] || die "$proftpd missing (run scripts/servers/install.sh)"
    local uid gid
    uid="$(id -u "$FILE_OWNER")" || die "system user $FILE_OWNER missing (run install.sh)"
    gid="$(id -g "$FILE_OWNER")"
    chown "$uid:$gid" "$ROOT"
    # ftpasswd format: name:hash:uid:gid:gecos:home:shell
    local hash
    hash="$(openssl passwd -6 "$FTP_PASSWORD")"
    printf '%s:%s:%s:%s::%s:/bin/sh\n' "$FTP_USER" "$hash" "$uid" "$gid" "$ROOT" \
        >"$STATEDIR/proftpd.passwd"
    printf '%s:x:%s:\n' "$FTP_USER" "$gid" >"$STATEDIR/proftpd.group"
    chmod 0600 "$STATEDIR/proftpd.passwd"
    local config="$STATEDIR/proftpd.conf"
    : >"$config"
    # proftpd takes the FIRST value of a repeated directive: extra lines go before ours.
    append_extra "$config"
    cat >>"$config" <<CONF
ServerName "ftpfs test proftpd"
ServerIdent on "ftpfs test proftpd"
ServerType standalone
DefaultAddress 127.0.0.1
SocketBindTight on
Port $PORT
UseIPv6 off
User nobody
Group nogroup
Umask 022 022
MaxLoginAttempts 3
PidFile $STATEDIR/proftpd.pid
ScoreboardFile $STATEDIR/proftpd.scoreboard
DelayTable $STATEDIR/proftpd.delay
SystemLog $STATEDIR/proftpd.log
TransferLog $STATEDIR/proftpd.xferlog
WtmpLog off
UseReverseDNS off
UseFtpUsers off
AuthPAM off
AuthOrder mod_auth_file.c mod_auth_unix.c
AuthUserFile $STATEDIR/proftpd.passwd
AuthGroupFile $STATEDIR/proftpd.group
RequireValidShell off
DefaultRoot ~
AllowOverwrite on
AllowStoreRestart on
AllowRetrieveRestart on
ListOptions "-A"
ShowSymlinks on
PassivePorts $PASV_LO $PASV_HI
TimesGMT on
<Limit SITE_CHMOD>
  AllowAll
</Limit>
<Anonymous $ROOT>
  User nobody
  Group nogroup
  UserAlias anonymous nobody
  UserAlias ftp nobody
  RequireValidShell off
  AnonRequirePassword off
  <Limit WRITE>
    DenyAll
  </Limit>
</Anonymous>
CONF
    exec "$proftpd" -n -q -c "$config"
}

start_pureftpd() {
    local bin_dir="$SERVERS_DIR/pure-ftpd/usr"
    [[ -x "$bin_dir/sbin/pure-ftpd" ]] || die "$bin_dir/sbin/pure-ftpd missing (run install.sh)"
    local uid gid
    uid="$(id -u "$FILE_OWNER")" || die "system user $FILE_OWNER missing (run install.sh)"
    gid="$(id -g "$FILE_OWNER")"
    chown "$uid:$gid" "$ROOT"
    local passwd="$STATEDIR/pureftpd.passwd" pdb="$STATEDIR/pureftpd.pdb" hash
    hash="$(openssl passwd -6 "$FTP_PASSWORD")"
    # pure-pw format; "/./" in the home makes it the user's chroot.
    printf '%s:%s:%s:%s::%s/./::::::::::::\n' "$FTP_USER" "$hash" "$uid" "$gid" "$ROOT" >"$passwd"
    chmod 0600 "$passwd"
    "$bin_dir/bin/pure-pw" mkdb "$pdb" -f "$passwd" >/dev/null
    local passive_ports=$((PASV_HI - PASV_LO + 1))
    local max_clients=$((passive_ports / 2))
    ((max_clients > MAX_CONNECTIONS)) && max_clients=$MAX_CONNECTIONS
    local args=(
        -S "127.0.0.1,$PORT"
        -4
        -p "$PASV_LO:$PASV_HI"
        -P 127.0.0.1
        -l "puredb:$pdb"
        -A
        -E
        -H
        -D
        -U 133:022
        -L 1000000:64
        -c "$max_clients"
        -C "$max_clients"
        -f none
        -O "clf:$STATEDIR/pureftpd.xferlog"
        -g "$STATEDIR/pureftpd.pid"
    )
    extra_options
    args+=("${EXTRA_ARGS[@]}")
    exec "$bin_dir/sbin/pure-ftpd" "${args[@]}"
}

start_pyftpdlib() {
    local python=/usr/bin/python3
    "$python" -c 'import pyftpdlib' 2>/dev/null ||
        die "python3-pyftpdlib is not installed for $python (run install.sh)"
    local script="$STATEDIR/pyftpdlib_server.py"
    cat >"$script" <<'PY'
"""pyftpdlib test server; arguments: root port pasv_lo pasv_hi user password statedir extra."""
import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

root, port, pasv_lo, pasv_hi, user, password, statedir, extra = sys.argv[1:9]
os.umask(0o022)
logging.basicConfig(
    filename=os.path.join(statedir, "pyftpdlib.log"),
    level=logging.DEBUG,
    format="%(asctime)s %(message)s",
)

authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")
authorizer.add_anonymous(root, perm="elr")


class handler(FTPHandler):
    pass


handler.authorizer = authorizer
handler.passive_ports = range(int(pasv_lo), int(pasv_hi) + 1)
handler.masquerade_address = "127.0.0.1"
handler.banner = "ftpfs test pyftpdlib"
handler.use_gmt_times = True
# Default is 3 s after a wrong password; keep the delay but do not slow the tests down.
handler.auth_failed_timeout = 0.2

server = FTPServer(("127.0.0.1", int(port)), handler)
server.max_cons = 256
server.max_cons_per_ip = 0

if extra:
    with open(extra) as extra_file:
        exec(compile(extra_file.read(), extra, "exec"))

server.serve_forever()
PY
    exec "$python" -u "$script" "$ROOT" "$PORT" "$PASV_LO" "$PASV_HI" "$FTP_USER" \
        "$FTP_PASSWORD" "$STATEDIR" "$EXTRA"
}

start_unftp() {
    local unftp="$SERVERS_DIR/unftp/bin/unftp"
    [[ -x "$unftp" ]] || die "$unftp missing (run scripts/servers/install.sh)"
    ((PASV_HI - PASV_LO >= 2)) || die "unftp needs a passive range of at least 3 ports"
    local users="$STATEDIR/unftp-users.json"
    # JSON-escape the two strings (backslash and double quote are all that can break it here).
    local user_json password_json
    user_json="$(sed 's/[\\"]/\\&/g' <<<"$FTP_USER")"
    password_json="$(sed 's/[\\"]/\\&/g' <<<"$FTP_PASSWORD")"
    printf '[{"username": "%s", "password": "%s"}]\n' "$user_json" "$password_json" >"$users"
    chmod 0600 "$users"
    local args=(
        --bind-address "127.0.0.1:$PORT"
        --bind-address-http "127.0.0.1:$PASV_HI"
        --passive-ports "$PASV_LO-$((PASV_HI - 1))"
        --passive-host 127.0.0.1
        --auth-type json
        --auth-json-path "$users"
        --sbe-type filesystem
        --root-dir "$ROOT"
        -vv
    )
    extra_options
    args+=("${EXTRA_ARGS[@]}")
    exec "$unftp" "${args[@]}"
}

# With FTPFS_STOP_WITH_PID set (the Rust harness sets its own pid), a watchdog kills this
# server's process group once that process is gone, so a test run killed by Ctrl-C or a
# timeout leaves no servers behind. It is double-forked: its parent is not the server (vsftpd
# would reap it as if it were a session), but it stays in the server's process group so
# stopping the server stops it too. $$ stays the server's pid across `exec`.
start_watchdog() {
    local watched="${FTPFS_STOP_WITH_PID:-}"
    [[ "$watched" =~ ^[0-9]+$ ]] || return 0
    local server_pid=$$
    (
        (
            exec </dev/null >/dev/null 2>&1
            while kill -0 "$watched" 2>/dev/null && kill -0 "$server_pid" 2>/dev/null; do
                sleep 1
            done
            if kill -0 "$server_pid" 2>/dev/null; then
                kill -KILL -- "-$(ps -o pgid= -p "$server_pid" | tr -d ' ')" 2>/dev/null ||
                    kill -KILL "$server_pid"
            fi
        ) &
    )
}
start_watchdog

case "$KIND" in
vsftpd) start_vsftpd ;;
proftpd) start_proftpd ;;
pureftpd | pure-ftpd) start_pureftpd ;;
pyftpdlib) start_pyftpdlib ;;
unftp | libunftp) start_unftp ;;
*) usage ;;
esac
