#!/usr/bin/env bash
# Benchmark ftpfs over an emulated WAN link, next to curl, lftp and rclone mount (issue 10).
#
#   sudo scripts/bench-wan.sh
#
# Everything that talks FTP runs inside a network namespace whose loopback has WAN_RTT_MS of
# round-trip time (scripts/wan/netns.sh: an NFQUEUE delay, since this kernel has no netem):
# vsftpd, the ftpfs mount, curl, lftp and the rclone mount. The mounts are made with nsenter
# --net only, so they are visible in the normal mount namespace and this script drives them
# with ordinary programs (rsync, find, tar, ls, dd) that never touch the network themselves.
#
# Workloads (each on a fresh mount, so the caches are cold):
# - rsync: `rsync -a` of 200 files of 4 KiB in 10 dirs into the mount, timed until the data is
#   on the server (ftpfs: when rsync returns, close-to-open; ftpfs in write-back mode and
#   rclone upload after close, so the server's tree is polled until it matches, and both
#   figures are shown: "X (rsync Y)" = on the server after X s, rsync returned after Y s).
#   Peers: lftp `mirror -R -P 4`, and curl uploading the same files one after another over one
#   connection.
# - find: `find` over a server tree of 100 dirs x 10 files, cold. Peers: lftp `find`, curl
#   listing the 101 directories one after another over one connection, rclone mount.
# - tar: `tar -x` of 100 files of 4 KiB into the mount (rclone and ftpfs write-back: until on
#   the server, as for rsync). Peers: curl (one connection), lftp `mirror -R -P 4`.
# - ls: `ls -l` of a directory of 10,000 files, cold. Peers: curl LIST, lftp `ls` (one LIST;
#   its `cls -l` asks per file), rclone mount (stopped after 120 s: it asks per file too).
# - read: 128 MiB sequential read (dd bs=1M) vs `curl -o /dev/null`, every run shown, since the
#   target (>= 1.5x curl) must hold in each. Peers: lftp `cat`, lftp `pget -n 2` and `-n 4`
#   (parallel segments into a file on tmpfs: what the link allows several streams),
#   rclone mount dd.
#
# Env knobs:
#   WAN_RTT_MS (50)          round-trip time of the emulated link
#   WAN_NETNS (ftpfs-wanbench-PID)  namespace name; must not exist yet
#   WAN_ONLY ("rsync find tar ls read")  workloads to run
#   WAN_PEERS (1)            0 = ftpfs only (quicker when iterating on ftpfs)
#   WAN_READ_MIB (128), WAN_READ_RUNS (3)
#   BENCH_MOUNT_ARGS         extra `ftpfs mount` options, e.g. "-vvv" (trace: every control line)
#                            or "--writeback --connections 8"
#   WAN_FTPFS_WRITEBACK (0)  1 = measure ftpfs in write-back mode (the same as --writeback in
#                            BENCH_MOUNT_ARGS); its spool is in the bench dir unless
#                            BENCH_MOUNT_ARGS names a --spool-dir. Targets then: rsync until on
#                            the server <= lftp -P 4 in the same run, rsync returning <= 5 s.
#   WAN_LOG_DIR              when set, the ftpfs/rclone/server logs are copied there at the end
#                            (with -vvv this is how scripts count round trips per operation)
#   BENCH_DIR (/dev/shm)     where the server root and the sources live
#   FTPFS_BIN                measure this binary as it is (default: build target/release/ftpfs)
# Needs root (namespace, FUSE, vsftpd). Installs lftp, rclone, rsync, iptables with apt if
# missing. Every wait is bounded; everything started here is stopped at exit, by PID.
set -euo pipefail
# A binary given by the caller is measured as it is (e.g. a build of another commit).
given_binary="${FTPFS_BIN:-}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$FTPFS_REPO_DIR/scripts/wan/netns.sh"

RTT_MS="${WAN_RTT_MS:-50}"
NETNS="${WAN_NETNS:-ftpfs-wanbench-$$}"
ONLY="${WAN_ONLY:-rsync find tar ls read}"
PEERS="${WAN_PEERS:-1}"
READ_MIB="${WAN_READ_MIB:-128}"
READ_RUNS="${WAN_READ_RUNS:-3}"
BENCH_PARENT="${BENCH_DIR:-/dev/shm}"
read -r -a MOUNT_ARGS <<<"${BENCH_MOUNT_ARGS:-}"
# Write-back mode: asked for by the knob or by the mount options themselves.
WRITEBACK="${WAN_FTPFS_WRITEBACK:-0}"
WRITEBACK_IN_ARGS=0
[[ " ${MOUNT_ARGS[*]:-} " =~ [[:space:],](--writeback|writeback)[[:space:],] ]] && WRITEBACK_IN_ARGS=1
((WRITEBACK_IN_ARGS == 0)) || WRITEBACK=1
# Longest wait for one workload step (a peer uploading after close, a stuck mount...).
STEP_TIMEOUT=900
# rclone's ls -l of 10,000 files costs round trips per file: stop it after this long.
LS_PEER_TIMEOUT=120

require_root
[[ "$WRITEBACK" == 0 || "$WRITEBACK" == 1 ]] || die "WAN_FTPFS_WRITEBACK must be 0 or 1"
for number in "$RTT_MS" "$READ_MIB" "$READ_RUNS"; do
    [[ "$number" =~ ^[0-9]+$ ]] || die "WAN_* values must be non-negative integers"
done
for workload in $ONLY; do
    [[ " rsync find tar ls read " == *" $workload "* ]] || die "unknown workload in WAN_ONLY: $workload"
done
wants() { [[ " $ONLY " == *" $1 "* ]]; }

# ================================================================ outside the namespace
if [[ -z "${FTPFS_WAN_INSIDE:-}" ]]; then
    heading "Setup"
    if [[ -n "$given_binary" ]]; then
        [[ -x "$given_binary" ]] || die "FTPFS_BIN=$given_binary is not executable"
    else
        build_release
    fi
    ensure_servers_installed
    missing=()
    for tool in lftp:lftp rclone:rclone rsync:rsync iptables:iptables curl:curl; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    [[ -x /usr/bin/python3 ]] || missing+=(python3)
    if ((${#missing[@]})); then
        note "installing ${missing[*]} with apt"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
            die "apt-get install ${missing[*]} failed"
    fi
    on_exit "wan_down '$NETNS'"
    wan_up "$NETNS" "$RTT_MS" || die "could not set up namespace $NETNS"
    export FTPFS_WAN_INSIDE=1 FTPFS_WAN_MEASURED_RTT="$WAN_MEASURED_RTT" FTPFS_BIN WAN_NETNS="$NETNS"
    # The same script again, inside: every socket it opens is on the delayed loopback.
    status=0
    nsenter "--net=/run/netns/$NETNS" bash "${BASH_SOURCE[0]}" || status=$?
    exit "$status"
fi

# ================================================================ inside the namespace
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# Runs "$@" under the step timeout; sets TOOK (seconds). Output goes to $work/last.out.
timed() {
    local start
    start="$(now)"
    timeout "$STEP_TIMEOUT" "$@" >"$work/last.out" 2>&1 || {
        local status=$?
        TOOK="$(elapsed "$start" "$(now)")"
        return "$status"
    }
    TOOK="$(elapsed "$start" "$(now)")"
}

make_temp_dir wan "$BENCH_PARENT"
work="$MADE_TEMP_DIR"
root="$work/server-root"
src="$work/src"
mnt="$work/mnt"
rmnt="$work/rclone-mnt"
logs="$work/logs"
mkdir -p "$root" "$src" "$mnt" "$rmnt" "$logs"
if [[ "$WRITEBACK" == 1 ]]; then
    ((WRITEBACK_IN_ARGS == 1)) || MOUNT_ARGS+=(--writeback)
    # Its own spool (not root's default under /var/cache), removed with the bench dir.
    [[ " ${MOUNT_ARGS[*]} " =~ (--spool-dir|spool_dir=) ]] || MOUNT_ARGS+=(--spool-dir "$work/spool")
fi
if [[ -n "${WAN_LOG_DIR:-}" ]]; then
    mkdir -p "$WAN_LOG_DIR"
    on_exit "cp -r '$logs/.' '$WAN_LOG_DIR/' 2>/dev/null"
fi

note "RTT asked $RTT_MS ms, measured ${FTPFS_WAN_MEASURED_RTT:-?} ms (TCP echo inside $NETNS)"
note "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
note "ftpfs: $("$FTPFS_BIN" --version); mount args: ${MOUNT_ARGS[*]:-(none)}"
if [[ "$PEERS" == 1 ]]; then
    note "peers: $(curl --version | head -1 | cut -d' ' -f1-2), $(lftp --version | head -1 |
        cut -d'|' -f1-2 | tr -s ' '), $(rclone version | head -1)"
fi

# ---------------------------------------------------------------- data
note "creating the trees..."
for ((d = 1; d <= 10; d++)); do
    mkdir -p "$src/rs/d$d"
    for ((f = 1; f <= 20; f++)); do head -c 4096 /dev/urandom >"$src/rs/d$d/f$f.dat"; done
done
mkdir -p "$src/small"
for ((f = 1; f <= 100; f++)); do head -c 4096 /dev/urandom >"$src/small/f$f.dat"; done
tar -C "$src" -cf "$work/small.tar" small
for ((d = 1; d <= 100; d++)); do
    mkdir -p "$root/walk/d$d"
    (cd "$root/walk/d$d" && touch f1 f2 f3 f4 f5 f6 f7 f8 f9 f10)
done
mkdir -p "$root/many"
(cd "$root/many" && seq -f "file-%06g.txt" 1 10000 | xargs touch)
wants read && head -c "$((READ_MIB << 20))" /dev/urandom >"$root/big.bin"
chown -R "$FTP_TEST_USER:" "$root"

start_ftp_server "$root" "$work/server-state" vsftpd
URL="$SERVER_URL"
on_exit "cp '$work/server-state/vsftpd.log' '$logs/' 2>/dev/null"
note "vsftpd pid $SERVER_PID on 127.0.0.1:$SERVER_PORT (inside $NETNS)"

# ---------------------------------------------------------------- mounts
RCLONE_PID=""
rclone_mounted() { awk -v m="$rmnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
rclone_mount() {
    local remote
    remote=":ftp,host=127.0.0.1,port=$SERVER_PORT,user=$FTP_TEST_USER,pass=$(rclone obscure "$FTP_TEST_PASSWORD"):"
    rm -rf "$work/rclone-cache"
    rclone mount "$remote/" "$rmnt" --vfs-cache-mode writes --cache-dir "$work/rclone-cache" \
        --log-file "$logs/rclone-$1.log" </dev/null >/dev/null 2>&1 &
    RCLONE_PID=$!
    local i
    for i in $(seq 1 150); do
        rclone_mounted && return 0
        sleep 0.1
    done
    die "rclone did not mount $rmnt"
}
rclone_unmount() {
    [[ -n "$RCLONE_PID" ]] || return 0
    rclone_mounted && { fusermount3 -u "$rmnt" 2>/dev/null || fusermount3 -u -z "$rmnt" || true; }
    wait_for_exit "$RCLONE_PID"
    RCLONE_PID=""
}
on_exit rclone_unmount

# Sets LFTP to an lftp command line running "$1" on the server (run it with timed "${LFTP[@]}").
lftp_with() {
    LFTP=(lftp -u "$FTP_TEST_USER,$FTP_TEST_PASSWORD" -p "$SERVER_PORT" -e
        "set ftp:ssl-allow no; set net:max-retries 2; set net:timeout 30; set cmd:fail-exit yes; $1; quit"
        127.0.0.1)
}

# Waits (bounded) until server dir $2 holds exactly what local dir $1 holds; sets TOOK from $3.
wait_on_server() {
    wait_for_same_tree "$1" "$2" "$STEP_TIMEOUT" || die "$2 never matched $1"
    TOOK="$(elapsed "$3" "$(now)")"
}
same_tree() { diff -rq "$1" "$2" >/dev/null || die "$2 differs from $1 after $3"; }

# For a mount that uploads after close: times "$@" (which must fill server dir $2 with what
# local dir $1 holds) until it returns (sets RETURNED) and until the server holds it (TOOK).
# Returns the status of "$@"; the caller decides whether a failure is fatal.
timed_until_on_server() {
    local source="$1" target="$2" start status=0
    shift 2
    start="$(now)"
    timed "$@" || status=$?
    RETURNED="$TOOK"
    wait_on_server "$source" "$target" "$start"
    return "$status"
}

# Times "$@" on a fresh mount of ftpfs in the mode asked for and records result $1.ftpfs: in
# the default mode until "$@" returns (close-to-open: the data is then on the server); in
# write-back mode until the server holds local dir $2 in server dir $3, with the return time.
# Dies when the server's tree then differs from $2 (a failing "$@" is noted).
measure_ftpfs() {
    local name="$1" source="$2" target="$3" status=0 program="$4"
    shift 3
    fresh_mount "$name"
    if [[ "$WRITEBACK" == 1 ]]; then
        timed_until_on_server "$source" "$target" "$@" || status=$?
    else
        timed "$@" || status=$?
    fi
    unmount_now
    # rsync -a exits 23 where the server cannot set a directory's time (vsftpd): the data
    # check below is what counts.
    ((status == 0)) || note "$program into ftpfs: exit status $status: $(tail -3 "$work/last.out")"
    same_tree "$source" "$target" "$program into ftpfs"
    if [[ "$WRITEBACK" == 1 ]]; then
        result "$name.ftpfs" "$TOOK ($program $RETURNED)"
        note "ftpfs --writeback: $program returned after ${RETURNED}s, data on the server after ${TOOK}s"
    else
        result "$name.ftpfs" "$TOOK"
        note "ftpfs: ${TOOK}s"
    fi
}

# curl config uploading every file under $1 to $2 (a server path), one after the other.
curl_upload_config() {
    local from="$1" to="$2" file
    (cd "$from" && find . -type f | sort) | while read -r file; do
        printf 'upload-file = "%s"\nurl = "%s%s/%s"\n' "$from/${file#./}" "$URL" "$to" "${file#./}"
    done
}

declare -A RESULT
result() { RESULT["$1"]="$2"; }

# Times "$@" on a fresh (cold) mount and records it as result $1.ftpfs; the output stays in
# $work/last.out for the caller to check.
cold_ftpfs() {
    local name="$1"
    shift
    fresh_mount "$name"
    timed "$@" || die "$name on ftpfs failed: $(tail -3 "$work/last.out")"
    unmount_now
    result "$name.ftpfs" "$TOOK"
    note "ftpfs: ${TOOK}s"
}

# ---------------------------------------------------------------- rsync
if wants rsync; then
    heading "rsync -a of 200 x 4 KiB in 10 dirs, until on the server"
    measure_ftpfs rsync "$src/rs" "$root/rsync-ftpfs" rsync -a "$src/rs/" "$mnt/rsync-ftpfs/"
    if [[ "$PEERS" == 1 ]]; then
        lftp_with "mirror -R -P 4 '$src/rs' /rsync-lftp"
        timed "${LFTP[@]}" || die "lftp mirror failed: $(cat "$work/last.out")"
        same_tree "$src/rs" "$root/rsync-lftp" "lftp mirror -R"
        result rsync.lftp "$TOOK"
        note "lftp mirror -R -P 4: ${TOOK}s"
        curl_upload_config "$src/rs" /rsync-curl >"$work/curl-rs.cfg"
        timed curl -s -S --ftp-create-dirs -K "$work/curl-rs.cfg" || die "curl upload failed"
        same_tree "$src/rs" "$root/rsync-curl" "curl uploads"
        result rsync.curl "$TOOK"
        note "curl, one connection: ${TOOK}s"
        rclone_mount rsync
        timed_until_on_server "$src/rs" "$root/rsync-rclone" rsync -a "$src/rs/" "$rmnt/rsync-rclone/" ||
            note "rsync into rclone: status $?"
        rclone_unmount
        result rsync.rclone "$TOOK (rsync ${RETURNED})"
        note "rclone mount: rsync returned after ${RETURNED}s, data on the server after ${TOOK}s"
    fi
fi

# ---------------------------------------------------------------- find
if wants find; then
    heading "find over 100 dirs x 10 files, cold"
    cold_ftpfs find find "$mnt/walk"
    count="$(wc -l <"$work/last.out")"
    [[ "$count" == 1101 ]] || die "find listed $count entries, expected 1101"
    if [[ "$PEERS" == 1 ]]; then
        lftp_with "find /walk"
        timed "${LFTP[@]}" || die "lftp find failed"
        result find.lftp "$TOOK"
        note "lftp find: ${TOOK}s ($(wc -l <"$work/last.out") lines)"
        { printf 'url = "%s/walk/"\noutput = "/dev/null"\n' "$URL"
          for ((d = 1; d <= 100; d++)); do
              printf 'url = "%s/walk/d%s/"\noutput = "/dev/null"\n' "$URL" "$d"
          done; } >"$work/curl-walk.cfg"
        timed curl -s -S -K "$work/curl-walk.cfg" || die "curl listings failed"
        result find.curl "$TOOK"
        note "curl, 101 LISTs on one connection: ${TOOK}s"
        rclone_mount find
        timed find "$rmnt/walk" || die "find on rclone failed"
        rclone_unmount
        result find.rclone "$TOOK"
        note "rclone mount: ${TOOK}s"
    fi
fi

# ---------------------------------------------------------------- tar
if wants tar; then
    heading "tar -x of 100 x 4 KiB"
    mkdir -p "$root/tar-ftpfs" "$root/tar-rclone"
    chown "$FTP_TEST_USER:" "$root/tar-ftpfs" "$root/tar-rclone"
    measure_ftpfs tar "$src/small" "$root/tar-ftpfs/small" tar -C "$mnt/tar-ftpfs" -xf "$work/small.tar"
    if [[ "$PEERS" == 1 ]]; then
        curl_upload_config "$src/small" /tar-curl/small >"$work/curl-tar.cfg"
        timed curl -s -S --ftp-create-dirs -K "$work/curl-tar.cfg" || die "curl upload failed"
        same_tree "$src/small" "$root/tar-curl/small" "curl uploads"
        result tar.curl "$TOOK"
        note "curl, one connection: ${TOOK}s"
        lftp_with "mirror -R -P 4 '$src/small' /tar-lftp/small"
        timed "${LFTP[@]}" || die "lftp mirror failed"
        same_tree "$src/small" "$root/tar-lftp/small" "lftp mirror -R"
        result tar.lftp "$TOOK"
        note "lftp mirror -R -P 4: ${TOOK}s"
        rclone_mount tar
        timed_until_on_server "$src/small" "$root/tar-rclone/small" \
            tar -C "$rmnt/tar-rclone" -xf "$work/small.tar" || die "tar -x into rclone failed"
        rclone_unmount
        result tar.rclone "$TOOK (tar ${RETURNED})"
        note "rclone mount: tar returned after ${RETURNED}s, data on the server after ${TOOK}s"
    fi
fi

# ---------------------------------------------------------------- ls
if wants ls; then
    heading "ls -l of 10,000 files, cold"
    cold_ftpfs ls ls -l "$mnt/many"
    count="$(grep -c '^-' "$work/last.out" || true)"
    [[ "$count" == 10000 ]] || die "ls -l listed $count files, expected 10000"
    if [[ "$PEERS" == 1 ]]; then
        timed curl -s -S -o /dev/null "$URL/many/" || die "curl LIST failed"
        result ls.curl "$TOOK"
        note "curl LIST: ${TOOK}s"
        lftp_with "ls /many > /dev/null"
        timed "${LFTP[@]}" || die "lftp ls failed"
        result ls.lftp "$TOOK"
        note "lftp ls: ${TOOK}s"
        # rclone 1.60 spends a round trip or more per file here: bounded, so the run ends.
        rclone_mount ls
        status=0
        STEP_TIMEOUT=$LS_PEER_TIMEOUT timed ls -l "$rmnt/many" || status=$?
        rclone_unmount
        if ((status == 124)); then TOOK="> $LS_PEER_TIMEOUT"; elif ((status != 0)); then die "ls -l on rclone failed"; fi
        result ls.rclone "$TOOK"
        note "rclone mount: ${TOOK}s"
    fi
fi

# ---------------------------------------------------------------- read
if wants read; then
    heading "sequential read of $READ_MIB MiB, $READ_RUNS runs"
    ratios=""
    worst_ratio=""
    for ((run = 1; run <= READ_RUNS; run++)); do
        timed curl -s -S -o /dev/null "$URL/big.bin" || die "curl download failed"
        curl_s="$TOOK"
        fresh_mount read
        timed dd if="$mnt/big.bin" of=/dev/null bs=1M || die "dd from ftpfs failed"
        ftpfs_s="$TOOK"
        unmount_now
        speedup="$(ratio "$curl_s" "$ftpfs_s")"
        ratios+="${ratios:+, }${speedup}x"
        if [[ -z "$worst_ratio" ]] || le "$speedup" "$worst_ratio"; then worst_ratio="$speedup"; fi
        line="run $run: ftpfs ${ftpfs_s}s, curl ${curl_s}s (ftpfs ${speedup}x curl)"
        if [[ "$PEERS" == 1 ]]; then
            lftp_with "cat /big.bin > /dev/null"
            timed "${LFTP[@]}" || die "lftp cat failed"
            line+=", lftp cat ${TOOK}s"
            result "read.lftp.$run" "$TOOK"
            # lftp's pget: N parallel RETRs with REST into a local file (on tmpfs here).
            for parts in 2 4; do
                lftp_with "pget -n $parts /big.bin -o '$work/pget.out'"
                timed "${LFTP[@]}" || die "lftp pget -n $parts failed: $(cat "$work/last.out")"
                cmp -s "$work/pget.out" "$root/big.bin" || die "lftp pget -n $parts: wrong bytes"
                rm -f "$work/pget.out"
                line+=", lftp pget -n $parts ${TOOK}s"
                result "read.pget$parts.$run" "$TOOK"
            done
            rclone_mount read
            timed dd if="$rmnt/big.bin" of=/dev/null bs=1M || die "dd from rclone failed"
            rclone_unmount
            line+=", rclone ${TOOK}s"
            result "read.rclone.$run" "$TOOK"
        fi
        result "read.ftpfs.$run" "$ftpfs_s"
        result "read.curl.$run" "$curl_s"
        note "$line"
    done
    result read.ratios "$ratios"
    result read.worst "$worst_ratio"
fi

# ---------------------------------------------------------------- summary
get() { echo "${RESULT[$1]:--}"; }
verdict() { if [[ "$1" != - ]] && le "${1%% *}" "$2"; then echo "PASS"; else echo "FAIL"; fi; }
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
heading "Summary: vsftpd, ${RTT_MS} ms RTT (measured ${FTPFS_WAN_MEASURED_RTT:-?} ms), seconds"
row "workload" "ftpfs$([[ "$WRITEBACK" == 1 ]] && echo " --writeback")" "curl" "lftp" "rclone mount (vfs writes)" "target"
row "---" "---" "---" "---" "---" "---"
if wants rsync; then
    if [[ "$WRITEBACK" == 1 ]]; then
        # Issue 11: on the server no later than lftp -P 4 (18.9 s when no peer ran), rsync back in 5 s.
        lftp_s="$(get rsync.lftp)"
        [[ "$lftp_s" != - ]] || lftp_s=18.9
        returned="$(get rsync.ftpfs)"
        returned="${returned#*(rsync }"
        target="<= $lftp_s $(verdict "$(get rsync.ftpfs)" "$lftp_s"); rsync <= 5 $(verdict "${returned%)}" 5)"
    else
        target="<= 35 $(verdict "$(get rsync.ftpfs)" 35)"
    fi
    row "rsync -a 200 x 4 KiB in 10 dirs, until on server" "$(get rsync.ftpfs)" \
        "$(get rsync.curl) (1 conn)" "$(get rsync.lftp) (mirror -R -P 4)" "$(get rsync.rclone)" \
        "$target"
fi
if wants find; then
    row "find 100 dirs x 10 files, cold" "$(get find.ftpfs)" "$(get find.curl) (101 LIST)" \
        "$(get find.lftp) (find)" "$(get find.rclone)" "<= 3 $(verdict "$(get find.ftpfs)" 3)"
fi
if wants tar; then
    row "tar -x 100 x 4 KiB" "$(get tar.ftpfs)" "$(get tar.curl) (1 conn)" \
        "$(get tar.lftp) (mirror -R -P 4)" "$(get tar.rclone)" "<= 12 $(verdict "$(get tar.ftpfs)" 12)"
fi
if wants ls; then
    row "ls -l 10,000 files, cold" "$(get ls.ftpfs)" "$(get ls.curl) (LIST)" \
        "$(get ls.lftp) (ls)" "$(get ls.rclone)" "<= 1 $(verdict "$(get ls.ftpfs)" 1)"
fi
if wants read; then
    for ((run = 1; run <= READ_RUNS; run++)); do
        row "read $READ_MIB MiB, run $run" "$(get "read.ftpfs.$run")" "$(get "read.curl.$run")" \
            "$(get "read.lftp.$run") (cat); pget -n 2 $(get "read.pget2.$run"), -n 4 $(get "read.pget4.$run")" \
            "$(get "read.rclone.$run")" "-"
    done
    worst="$(get read.worst)"
    row "read: curl time / ftpfs time" "$(get read.ratios)" "-" "-" "-" \
        ">= 1.5x every run $(if [[ "$worst" != - ]] && le 1.5 "$worst"; then echo PASS; else echo FAIL; fi)"
fi
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
