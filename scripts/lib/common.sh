# Shared shell helpers for scripts/demo.sh and scripts/bench.sh (sourced, not run).
#
# Why these exist: both scripts start a real FTP server on a free loopback port, mount it, and
# must leave nothing behind however they end (Ctrl-C, a failing step under `set -e`). So every
# resource is registered for cleanup the moment it exists, and one EXIT trap undoes them in
# reverse order: unmount first (a mount on a dead server would hang `ls`), then stop the
# server by its PID (process group), then remove temp dirs.
#
# Functions set globals instead of printing values, so callers need no subshells (a subshell
# could not register cleanups for the parent).

FTPFS_REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
FTPFS_BIN="${FTPFS_BIN:-$FTPFS_REPO_DIR/target/release/ftpfs}"
# vsftpd logs in system users through PAM: this is the account install.sh creates.
FTP_TEST_USER="${FTPFS_TEST_USER:-ftpfs-test}"
FTP_TEST_PASSWORD="${FTPFS_TEST_PASSWORD:-ftpfs-test-pw}"

_cleanup_commands=()

# Registers a shell command to run at exit; later registrations run first.
on_exit() {
    _cleanup_commands+=("$1")
}

_run_cleanups() {
    local status=$?
    trap - EXIT INT TERM
    local i
    for ((i = ${#_cleanup_commands[@]} - 1; i >= 0; i--)); do
        eval "${_cleanup_commands[$i]}" || true
    done
    exit "$status"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

heading() { printf '\n\033[1m==== %s ====\033[0m\n' "$*"; }
note() { printf '  %s\n' "$*"; }
die() {
    echo "error: $*" >&2
    exit 1
}

# Prints a command, then runs it (what a reader of the demo should see and could type).
show() {
    printf '\033[36m$ %s\033[0m\n' "$*"
    "$@"
}

require_root() {
    [[ "$(id -u)" == 0 ]] || die "run as root (installs servers, starts vsftpd, mounts FUSE)"
}

# Builds the release binary (incremental: cheap when nothing changed).
build_release() {
    (cd "$FTPFS_REPO_DIR" && cargo build --release --quiet) || die "cargo build --release failed"
    [[ -x "$FTPFS_BIN" ]] || die "$FTPFS_BIN missing after the build"
}

# Runs install.sh when vsftpd or the test user is missing (it is idempotent, but slow-ish).
ensure_servers_installed() {
    if ! command -v vsftpd >/dev/null || ! id -u "$FTP_TEST_USER" >/dev/null 2>&1 ||
        ! command -v fusermount3 >/dev/null || ! command -v curl >/dev/null; then
        bash "$FTPFS_REPO_DIR/scripts/servers/install.sh"
    fi
}

# Makes a temp dir removed at exit; sets MADE_TEMP_DIR. $1 = name hint, $2 = parent (optional).
make_temp_dir() {
    MADE_TEMP_DIR="$(mktemp -d "${2:-${TMPDIR:-/tmp}}/ftpfs-$1.XXXXXX")"
    # mktemp makes it 0700; vsftpd runs as the test user and must reach a root inside it.
    chmod 755 "$MADE_TEMP_DIR"
    on_exit "rm -rf -- '$MADE_TEMP_DIR'"
}

_port_in_use() {
    [[ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]]
}

# Finds a control port followed by a free passive range; sets FREE_PORT, PASV_LO, PASV_HI.
find_free_ports() {
    local passive_ports=32 attempt base port busy
    for attempt in $(seq 1 50); do
        base=$((20000 + RANDOM % 30000))
        busy=0
        for ((port = base; port <= base + passive_ports; port++)); do
            if _port_in_use "$port"; then
                busy=1
                break
            fi
        done
        if [[ "$busy" == 0 ]]; then
            FREE_PORT=$base
            PASV_LO=$((base + 1))
            PASV_HI=$((base + passive_ports))
            return 0
        fi
    done
    die "no free port range found on 127.0.0.1"
}

# Waits up to $2 seconds (default 10) until 127.0.0.1:$1 accepts connections.
wait_for_port() {
    local port="$1" deadline=$((SECONDS + ${2:-10}))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Starts vsftpd (or $3 = another kind) serving $1 in the background, in its own process group,
# logs in $2/server.log; sets SERVER_PORT, SERVER_PID and SERVER_URL (with credentials).
start_ftp_server() {
    local root="$1" statedir="$2" kind="${3:-vsftpd}"
    mkdir -p "$statedir"
    find_free_ports
    # setsid: its own process group, so stopping it also stops its per-session children.
    setsid bash "$FTPFS_REPO_DIR/scripts/servers/start.sh" "$kind" "$root" "$FREE_PORT" \
        "$PASV_LO" "$PASV_HI" "$FTP_TEST_USER" "$FTP_TEST_PASSWORD" "$statedir" \
        </dev/null >"$statedir/server.log" 2>&1 &
    SERVER_PID=$!
    on_exit "stop_ftp_server $SERVER_PID"
    SERVER_PORT=$FREE_PORT
    SERVER_URL="ftp://$FTP_TEST_USER:$FTP_TEST_PASSWORD@127.0.0.1:$SERVER_PORT"
    if ! wait_for_port "$SERVER_PORT" 15; then
        cat "$statedir/server.log" >&2
        die "$kind did not start listening on 127.0.0.1:$SERVER_PORT"
    fi
}

# Stops the server started above: its process group (start.sh exec's the server, and setsid
# made its PID the group id), then the PID itself in case setsid forked.
stop_ftp_server() {
    local pid="$1"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

is_ftpfs_mounted() {
    awk -v mnt="$1" '$2 == mnt && $3 ~ /ftpfs/ { found = 1 } END { exit !found }' /proc/mounts
}

# Unmounts $1 if it is still mounted: politely, then lazily (never leave a dead mount behind).
unmount_quietly() {
    local mountpoint="$1"
    is_ftpfs_mounted "$mountpoint" || return 0
    "$FTPFS_BIN" umount "$mountpoint" 2>/dev/null || fusermount3 -u "$mountpoint" 2>/dev/null ||
        fusermount3 -u -z "$mountpoint" 2>/dev/null || true
}

# Waits up to $2 seconds (default 10) until an ftpfs mount is on $1.
wait_for_mount() {
    local mountpoint="$1" deadline=$((SECONDS + ${2:-10}))
    while ((SECONDS < deadline)); do
        is_ftpfs_mounted "$mountpoint" && return 0
        sleep 0.05
    done
    return 1
}

# Waits up to $3 seconds, polling every $4 (default 0.2), until directory $2 holds exactly what
# $1 holds (diff -r: names, types, contents); false on timeout. For mounts that upload after
# close (ftpfs --writeback, rclone's write cache): their data reaches the server after the
# program writing it returned, and temporary upload names are gone only once all is done.
wait_for_same_tree() {
    local source="$1" target="$2" deadline=$((SECONDS + $3)) poll="${4:-0.2}"
    until diff -rq "$source" "$target" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep "$poll"
    done
}

# Mounts $1 (URL) on $2 in the FOREGROUND mode as a background job, so the script knows the
# ftpfs PID (for RSS sampling) and its log ($3); remaining args go to `ftpfs mount`.
# Sets FTPFS_PID. One job at a time: stop it with stop_foreground_job (the EXIT trap does too).
FTPFS_PID=""
FTPFS_JOB_MOUNTPOINT=""
_ftpfs_job_cleanup_registered=0
mount_foreground_job() {
    local url="$1" mountpoint="$2" log_file="$3"
    shift 3
    [[ -z "$FTPFS_PID" ]] || die "an ftpfs job (pid $FTPFS_PID) is still running"
    if [[ "$_ftpfs_job_cleanup_registered" == 0 ]]; then
        on_exit "stop_foreground_job"
        _ftpfs_job_cleanup_registered=1
    fi
    FTPFS_JOB_MOUNTPOINT="$mountpoint"
    "$FTPFS_BIN" mount -f "$@" "$url/" "$mountpoint" >"$log_file" 2>&1 &
    FTPFS_PID=$!
    if ! wait_for_mount "$mountpoint" 15; then
        cat "$log_file" >&2
        die "ftpfs did not mount $mountpoint"
    fi
}

# Mounts a fresh ftpfs (new process: empty caches, fresh VmHWM) of the caller's $URL on $mnt
# with "${MOUNT_ARGS[@]}", logging to $logs/ftpfs-N[-$1].log; sets FTPFS_PID.
_mount_count=0
fresh_mount() {
    _mount_count=$((_mount_count + 1))
    mount_foreground_job "$URL" "$mnt" "$logs/ftpfs-$_mount_count${1:+-$1}.log" "${MOUNT_ARGS[@]}"
}

# Unmounts what fresh_mount mounted (bounded) and waits for the ftpfs process to end.
unmount_now() {
    timeout 120 "$FTPFS_BIN" umount "$mnt" || die "ftpfs umount $mnt failed"
    stop_foreground_job
}

# Unmounts the job's mount and waits for the ftpfs process to end. The PID is forgotten once
# reaped, so a later call can never signal a recycled PID.
stop_foreground_job() {
    [[ -n "$FTPFS_PID" ]] || return 0
    unmount_quietly "$FTPFS_JOB_MOUNTPOINT"
    wait_for_exit "$FTPFS_PID"
    FTPFS_PID=""
}

# True while child PID $1 runs; an exited child that is not reaped yet is a zombie, which
# `kill -0` would still report as alive.
_child_running() {
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# Waits up to 10 s for child PID $1 to exit, then kills it, and reaps it (only ever a PID this
# script started and has not reaped yet, so it cannot have been recycled).
wait_for_exit() {
    local pid="$1" i
    for i in $(seq 1 100); do
        _child_running "$pid" || break
        sleep 0.1
    done
    if _child_running "$pid"; then
        echo "warning: pid $pid did not exit within 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
