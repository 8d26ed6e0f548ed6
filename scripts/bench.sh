#!/usr/bin/env bash
# Benchmark ftpfs against curl on one local vsftpd (never part of the tests).
#
#   sudo scripts/bench.sh
#
# Measures, through a release build of ftpfs:
# - sequential read of a big file (dd of=/dev/null bs=1M) vs `curl -o /dev/null` of the same file;
# - sequential write (dd bs=1M from /dev/shm, timed until dd returns: close waits for the
#   server's 226, so the upload is complete) vs `curl -T`;
# - `ls -l` of a directory of many files, cold (fresh mount) and warm (second run), with a curl
#   LIST of the same directory as reference;
# - `tar -x` of many small files into the mount, with curl uploading the same files over one
#   connection as reference; with --writeback in BENCH_MOUNT_ARGS also in write-back mode (issue
#   11, target >= 3,000 files/s until tar returns, the data then durable in the local spool),
#   timed twice: until tar returns, and until the server's tree matches the source (every
#   upload done; shown without a target);
# - peak RSS (VmHWM) of the ftpfs process during the big write;
# - CPU seconds per GiB (ftpfs process + dd vs curl): the cost per byte, which stays meaningful
#   when other jobs share the CPUs and make the wall-clock throughput noisy.
# Targets (issue): read and write >= 80 % of curl's throughput; peak RSS < 100 MiB on the write.
#
# Env knobs: BENCH_SIZE_MIB (default 1024) size of the big file; BENCH_RUNS (default 3) runs of
# each throughput figure, the best one counts (a shared 2-core machine is noisy);
# BENCH_LS_FILES (10000); BENCH_TAR_FILES (1000); BENCH_DIR (default /dev/shm: the server root
# sits in RAM so the figures measure ftpfs and FTP, not the disk); BENCH_MOUNT_ARGS extra
# `ftpfs mount` options, e.g. "--connections 8"; "--writeback" there applies to the tar
# workload only, which then runs in both modes (read, write and ls stay in the default mode:
# a write-back write would be timed until dd returns, not until the server has it);
# BENCH_ONLY ("read write ls tar"; also "bigdir") the workloads to run.
# The "bigdir" workload (not run by default) lists a directory of BENCH_BIGDIR_FILES (100000)
# empty files with `ls -l`, cold and warm, against the same `ls -l` of the server's own tree
# (on BENCH_DIR, a tmpfs by default), and prints the mount's VmRSS and VmHWM after the listing
# divided by the entries (issue 10 targets: cold <= 1.2 s, warm within 1.2x of tmpfs, <= 500
# bytes per entry).
# BENCH_SPOOL_PARENT (default: the bench directory) where the write-back spool goes, e.g.
# ~/.cache to time ftpfs' default location on its real disk (every close fsyncs there, so the
# disk decides the files/s).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
RUNS="${BENCH_RUNS:-3}"
LS_FILES="${BENCH_LS_FILES:-10000}"
TAR_FILES="${BENCH_TAR_FILES:-1000}"
BIGDIR_FILES="${BENCH_BIGDIR_FILES:-100000}"
BENCH_PARENT="${BENCH_DIR:-/dev/shm}"
ONLY="${BENCH_ONLY:-read write ls tar}"
read -r -a GIVEN_ARGS <<<"${BENCH_MOUNT_ARGS:-}"
# --writeback is for the tar workload: the others mount without it.
DEFAULT_ARGS=()
WRITEBACK=0
for arg in "${GIVEN_ARGS[@]}"; do
    if [[ "$arg" == --writeback ]]; then WRITEBACK=1; else DEFAULT_ARGS+=("$arg"); fi
done
MOUNT_ARGS=("${DEFAULT_ARGS[@]}")

require_root
for number in "$SIZE_MIB" "$RUNS" "$LS_FILES" "$TAR_FILES" "$BIGDIR_FILES"; do
    [[ "$number" =~ ^[1-9][0-9]*$ ]] || die "BENCH_* values must be positive integers"
done
for workload in $ONLY; do
    [[ " read write ls tar bigdir " == *" $workload "* ]] || die "unknown workload in BENCH_ONLY: $workload"
done
wants() { [[ " $ONLY " == *" $1 "* ]]; }

now() { date +%s.%N; }
# Seconds between two `now` stamps, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mib_per_s() { awk -v mib="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? mib / s : 0) }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }'; }
# Larger / smaller of two numbers.
max_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
# CPU seconds per GiB moved.
cpu_per_gib() { awk -v s="$1" -v mib="$SIZE_MIB" 'BEGIN { printf "%.2f", s * 1024 / mib }'; }

# Runs "$@" (stdout dropped, stderr kept); sets RUN_WALL and RUN_CPU (user + system seconds of
# the command and its children). CPU time shows the cost per byte even when other jobs share
# the machine and make wall-clock figures noisy.
timed() {
    local time_file="$work/time.out" TIMEFORMAT='%R %U %S' user system
    { time "$@" >/dev/null 2>&4; } 4>&2 2>"$time_file"
    read -r RUN_WALL user system <"$time_file"
    RUN_CPU="$(add "$user" "$system")"
}

# User + system CPU seconds process $1 has used so far (not its children).
process_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
        "/proc/$1/stat"
}

# Warns when other jobs compete for the CPUs: wall-clock figures are then unreliable.
report_load() {
    local load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    note "load average now: $load on $(nproc) CPUs$(awk -v l="$load" -v n="$(nproc)" \
        'BEGIN { if (l > n) print " (BUSY: other jobs compete, wall-clock figures are noisy)" }')"
}

heading "Setup"
build_release
ensure_servers_installed
make_temp_dir bench "$BENCH_PARENT"
work="$MADE_TEMP_DIR"
root="$work/server-root"
mnt="$work/mnt"
logs="$work/logs"
mkdir -p "$root/many" "$root/untar" "$root/curl-untar" "$mnt" "$logs"

note "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
note "ftpfs: $("$FTPFS_BIN" --version), curl: $(curl --version | head -1 | cut -d' ' -f1-2)"
note "workloads: $ONLY; big file: $SIZE_MIB MiB, best of $RUNS runs; server root in $work"
spool="$work/spool"
if [[ "$WRITEBACK" == 1 && -n "${BENCH_SPOOL_PARENT:-}" ]]; then
    mkdir -p "$BENCH_SPOOL_PARENT"
    make_temp_dir wbspool "$BENCH_SPOOL_PARENT"
    spool="$MADE_TEMP_DIR"
fi
if [[ "$WRITEBACK" == 1 ]]; then
    mkdir -p "$spool"
    note "write-back spool in $spool ($(stat -f -c %T "$spool"))"
fi

if wants read || wants write; then
    note "creating $SIZE_MIB MiB of random data (server copy + write source)..."
    head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/source.bin"
    cp "$work/source.bin" "$root/big.bin"
fi
if wants ls; then
    note "creating $LS_FILES files for the listing test..."
    (cd "$root/many" && seq -f "file-%06g.txt" 1 "$LS_FILES" | xargs touch)
fi
if wants bigdir; then
    note "creating $BIGDIR_FILES files for the big-directory test..."
    mkdir -p "$root/big"
    (cd "$root/big" && seq -f "entry-%07g.dat" 1 "$BIGDIR_FILES" | xargs touch)
fi
note "creating a tarball of $TAR_FILES files of 4 KiB..."
mkdir -p "$work/tar-src/small"
for ((i = 1; i <= TAR_FILES; i++)); do
    head -c 4096 /dev/urandom >"$work/tar-src/small/f$i.dat"
done
tar -C "$work/tar-src" -cf "$work/small.tar" small
chown -R "$FTP_TEST_USER:" "$root"

start_ftp_server "$root" "$work/server-state" vsftpd
URL="$SERVER_URL"
note "vsftpd pid $SERVER_PID on 127.0.0.1:$SERVER_PORT"


# ---------------------------------------------------------------- sequential read
if wants read; then
    heading "Sequential read of $SIZE_MIB MiB"
    best_curl_read=0
    best_ftpfs_read=0
    best_curl_read_cpu=999999
    best_ftpfs_read_cpu=999999
    for ((run = 1; run <= RUNS; run++)); do
        timed curl -s -S -o /dev/null "$URL/big.bin"
        rate="$(mib_per_s "$SIZE_MIB" "$RUN_WALL")"
        best_curl_read="$(max_of "$best_curl_read" "$rate")"
        best_curl_read_cpu="$(min_of "$best_curl_read_cpu" "$RUN_CPU")"
        note "run $run  curl:  ${RUN_WALL}s  $rate MiB/s  (cpu: curl ${RUN_CPU}s)"

        # Fresh mount each run so neither the kernel page cache nor ftpfs' chunk cache serves it.
        fresh_mount
        cpu_before="$(process_cpu "$FTPFS_PID")"
        timed dd if="$mnt/big.bin" of=/dev/null bs=1M status=none
        ftpfs_cpu="$(awk -v a="$cpu_before" -v b="$(process_cpu "$FTPFS_PID")" \
            'BEGIN { printf "%.2f", b - a }')"
        rate="$(mib_per_s "$SIZE_MIB" "$RUN_WALL")"
        best_ftpfs_read="$(max_of "$best_ftpfs_read" "$rate")"
        best_ftpfs_read_cpu="$(min_of "$best_ftpfs_read_cpu" "$(add "$ftpfs_cpu" "$RUN_CPU")")"
        note "run $run  ftpfs: ${RUN_WALL}s  $rate MiB/s  (cpu: ftpfs ${ftpfs_cpu}s + dd ${RUN_CPU}s)"
        unmount_now
    done
    note "best: ftpfs $best_ftpfs_read MiB/s, curl $best_curl_read MiB/s," \
        "ratio $(percent "$best_ftpfs_read" "$best_curl_read") %"
    report_load
fi

# ---------------------------------------------------------------- sequential write + RSS
if wants write; then
    heading "Sequential write of $SIZE_MIB MiB (source in $BENCH_PARENT)"
    best_curl_write=0
    best_ftpfs_write=0
    best_curl_write_cpu=999999
    best_ftpfs_write_cpu=999999
    worst_hwm_kib=0
    for ((run = 1; run <= RUNS; run++)); do
        rm -f "$root/curl-upload.bin"
        timed curl -s -S -T "$work/source.bin" "$URL/curl-upload.bin"
        rate="$(mib_per_s "$SIZE_MIB" "$RUN_WALL")"
        best_curl_write="$(max_of "$best_curl_write" "$rate")"
        best_curl_write_cpu="$(min_of "$best_curl_write_cpu" "$RUN_CPU")"
        note "run $run  curl:  ${RUN_WALL}s  $rate MiB/s  (cpu: curl ${RUN_CPU}s)"
        rm -f "$root/curl-upload.bin"

        rm -f "$root/upload.bin"
        fresh_mount
        # Peak RSS of this process from now on: clear_refs 5 resets VmHWM to the current RSS.
        echo 5 >"/proc/$FTPFS_PID/clear_refs"
        rss_before_kib="$(awk '/^VmRSS:/ { print $2 }' "/proc/$FTPFS_PID/status")"
        cpu_before="$(process_cpu "$FTPFS_PID")"
        # Timed until dd returns: its close() waits for the server's 226, so the upload is done.
        timed dd if="$work/source.bin" of="$mnt/upload.bin" bs=1M status=none
        hwm_kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$FTPFS_PID/status")"
        ftpfs_cpu="$(awk -v a="$cpu_before" -v b="$(process_cpu "$FTPFS_PID")" \
            'BEGIN { printf "%.2f", b - a }')"
        rate="$(mib_per_s "$SIZE_MIB" "$RUN_WALL")"
        best_ftpfs_write="$(max_of "$best_ftpfs_write" "$rate")"
        best_ftpfs_write_cpu="$(min_of "$best_ftpfs_write_cpu" "$(add "$ftpfs_cpu" "$RUN_CPU")")"
        worst_hwm_kib="$(max_of "$worst_hwm_kib" "$hwm_kib")"
        note "run $run  ftpfs: ${RUN_WALL}s  $rate MiB/s  (cpu: ftpfs ${ftpfs_cpu}s + dd ${RUN_CPU}s;" \
            "RSS before $((rss_before_kib / 1024)) MiB, peak during write $((hwm_kib / 1024)) MiB)"
        unmount_now
        if ! cmp -s "$work/source.bin" "$root/upload.bin"; then
            die "the file uploaded through ftpfs differs from the source"
        fi
    done
    rm -f "$root/upload.bin"
    note "best: ftpfs $best_ftpfs_write MiB/s, curl $best_curl_write MiB/s," \
        "ratio $(percent "$best_ftpfs_write" "$best_curl_write") %;" \
        "peak RSS $((worst_hwm_kib / 1024)) MiB"
    report_load
fi

# ---------------------------------------------------------------- ls -l
# Best seconds of $RUNS `ls -l` of DIR on the local disk (the reference ftpfs is compared
# with), after one run that only warms the local dentry cache: noted, and left in
# $reference_best (not printed for a $(...): the note must reach the report).
reference_ls() {
    local dir="$1" run start
    reference_best=999999
    for ((run = 0; run <= RUNS; run++)); do
        start="$(now)"
        ls -l "$dir" >/dev/null
        ((run == 0)) || reference_best="$(min_of "$reference_best" "$(elapsed "$start" "$(now)")")"
    done
    note "ls -l of the same tree on $(stat -f -c %T "$root") (reference, best of $RUNS): ${reference_best}s"
}
if wants ls; then
    heading "ls -l of a directory of $LS_FILES files"
    best_curl_list=999999
    for ((run = 1; run <= RUNS; run++)); do
        start="$(now)"
        curl -s -S -o /dev/null "$URL/many/"
        best_curl_list="$(min_of "$best_curl_list" "$(elapsed "$start" "$(now)")")"
    done
    note "curl LIST (reference, best of $RUNS): ${best_curl_list}s"
    reference_ls "$root/many"
    best_tmpfs_list="$reference_best"
    best_ls_cold=999999
    best_ls_warm=999999
    for ((run = 1; run <= RUNS; run++)); do
        fresh_mount
        start="$(now)"
        listed="$(ls -l "$mnt/many" | grep -c '^-')"
        cold="$(elapsed "$start" "$(now)")"
        start="$(now)"
        ls -l "$mnt/many" >/dev/null
        warm="$(elapsed "$start" "$(now)")"
        unmount_now
        [[ "$listed" == "$LS_FILES" ]] || die "ls -l listed $listed files, expected $LS_FILES"
        best_ls_cold="$(min_of "$best_ls_cold" "$cold")"
        best_ls_warm="$(min_of "$best_ls_warm" "$warm")"
        note "run $run  cold ${cold}s  warm ${warm}s"
    done
fi

# ---------------------------------------------------------------- big directory
# "VmRSS VmHWM" of process $1 in KiB.
rss_kib() { awk '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } END { print rss, hwm }' "/proc/$1/status"; }
if wants bigdir; then
    heading "ls -l of a directory of $BIGDIR_FILES files"
    reference_ls "$root/big"
    best_tmpfs_big="$reference_best"
    best_big_cold=999999
    best_big_warm=999999
    worst_big_rss=0
    worst_big_hwm=0
    for ((run = 1; run <= RUNS; run++)); do
        fresh_mount
        read -r base_rss _ <<<"$(rss_kib "$FTPFS_PID")"
        cpu_start="$(process_cpu "$FTPFS_PID")"
        start="$(now)"
        listed="$(ls -l "$mnt/big" | grep -c '^-')"
        cold="$(elapsed "$start" "$(now)")"
        cpu_cold="$(process_cpu "$FTPFS_PID")"
        start="$(now)"
        ls -l "$mnt/big" >/dev/null
        warm="$(elapsed "$start" "$(now)")"
        cpu_warm="$(process_cpu "$FTPFS_PID")"
        read -r rss hwm <<<"$(rss_kib "$FTPFS_PID")"
        unmount_now
        [[ "$listed" == "$BIGDIR_FILES" ]] || die "ls -l listed $listed files, expected $BIGDIR_FILES"
        best_big_cold="$(min_of "$best_big_cold" "$cold")"
        best_big_warm="$(min_of "$best_big_warm" "$warm")"
        worst_big_rss="$(max_of "$worst_big_rss" "$rss")"
        worst_big_hwm="$(max_of "$worst_big_hwm" "$hwm")"
        # CPU seconds of the ftpfs process: its cost, which other jobs on the machine do not move.
        note "run $run  cold ${cold}s  warm ${warm}s  (ftpfs cpu: cold" \
            "$(awk -v a="$cpu_start" -v b="$cpu_cold" 'BEGIN { printf "%.2f", b - a }')s, warm" \
            "$(awk -v a="$cpu_cold" -v b="$cpu_warm" 'BEGIN { printf "%.2f", b - a }')s)"
        note "       RSS $((rss / 1024)) MiB" \
            "(after mount $((base_rss / 1024)) MiB) peak $((hwm / 1024)) MiB;" \
            "per entry: RSS $((rss * 1024 / BIGDIR_FILES)) B, peak $((hwm * 1024 / BIGDIR_FILES)) B"
    done
    report_load
fi

# ---------------------------------------------------------------- tar -x
# Files per second of $1 seconds.
files_per_s() { awk -v n="$TAR_FILES" -v s="$1" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
if wants tar; then
    heading "tar -x of $TAR_FILES files of 4 KiB into the mount"
    # curl reference: the same files uploaded one after another over one reused connection.
    curl_config="$work/curl-upload.cfg"
    for ((i = 1; i <= TAR_FILES; i++)); do
        printf 'upload-file = "%s"\nurl = "%s"\n' "$work/tar-src/small/f$i.dat" \
            "$URL/curl-untar/f$i.dat"
    done >"$curl_config"
    best_curl_tar=999999
    best_tar=999999
    best_wb_returned=999999
    best_wb_on_server=999999
    for ((run = 1; run <= RUNS; run++)); do
        rm -rf "${root:?}/curl-untar/"*
        start="$(now)"
        curl -s -S -K "$curl_config"
        best_curl_tar="$(min_of "$best_curl_tar" "$(elapsed "$start" "$(now)")")"

        # Default mode: close returns once the server has the file, so tar returning is the time.
        rm -rf "${root:?}/untar/"*
        fresh_mount
        start="$(now)"
        tar -C "$mnt/untar" -xf "$work/small.tar"
        seconds="$(elapsed "$start" "$(now)")"
        unmount_now
        count="$(find "$root/untar/small" -type f -size 4096c | wc -l)"
        [[ "$count" == "$TAR_FILES" ]] || die "tar -x left $count complete files, expected $TAR_FILES"
        best_tar="$(min_of "$best_tar" "$seconds")"
        line="run $run  ftpfs tar -x: ${seconds}s ($(files_per_s "$seconds") files/s)"
        if [[ "$WRITEBACK" == 1 ]]; then
            # Write-back: tar returns once the data is in the spool; then poll the server.
            rm -rf "${root:?}/untar/"*
            MOUNT_ARGS=("${DEFAULT_ARGS[@]}" --writeback --spool-dir "$spool")
            fresh_mount writeback
            MOUNT_ARGS=("${DEFAULT_ARGS[@]}")
            start="$(now)"
            tar -C "$mnt/untar" -xf "$work/small.tar"
            returned="$(elapsed "$start" "$(now)")"
            wait_for_same_tree "$work/tar-src/small" "$root/untar/small" 300 0.02 ||
                die "the server never got what tar -x wrote to the write-back mount"
            on_server="$(elapsed "$start" "$(now)")"
            unmount_now
            best_wb_returned="$(min_of "$best_wb_returned" "$returned")"
            best_wb_on_server="$(min_of "$best_wb_on_server" "$on_server")"
            line+="; --writeback: returned ${returned}s ($(files_per_s "$returned") files/s),"
            line+=" on the server ${on_server}s ($(files_per_s "$on_server") files/s)"
        fi
        note "$line"
    done
    note "curl, $TAR_FILES uploads on one connection (reference, best of $RUNS): ${best_curl_tar}s"
fi

# ---------------------------------------------------------------- summary
verdict() { if [[ "$1" == 1 ]]; then echo PASS; else echo FAIL; fi; }
# One summary line; fixed widths (column(1) is not on a minimal Debian).
row() { printf '%-26s %-18s %-20s %-11s %s\n' "$@"; }
heading "Summary (best of $RUNS; $( (wants read || wants write) && echo "$SIZE_MIB MiB file; ")vsftpd on loopback)"
row "test" "ftpfs" "curl" "ftpfs/curl" "target"
if wants read; then
    read_pct="$(percent "$best_ftpfs_read" "$best_curl_read")"
    row "sequential read" "$best_ftpfs_read MiB/s" \
        "$best_curl_read MiB/s" "$read_pct %" ">= 80 % $(verdict "$((read_pct >= 80))")"
fi
if wants write; then
    write_pct="$(percent "$best_ftpfs_write" "$best_curl_write")"
    hwm_mib="$((worst_hwm_kib / 1024))"
    row "sequential write" "$best_ftpfs_write MiB/s" \
        "$best_curl_write MiB/s" "$write_pct %" ">= 80 % $(verdict "$((write_pct >= 80))")"
    row "peak RSS during write" "$hwm_mib MiB" "-" "-" \
        "< 100 MiB $(verdict "$((hwm_mib < 100))")"
fi
if wants read; then
    row "read CPU s/GiB" \
        "$(cpu_per_gib "$best_ftpfs_read_cpu") (ftpfs+dd)" "$(cpu_per_gib "$best_curl_read_cpu")" \
        "$(percent "$best_ftpfs_read_cpu" "$best_curl_read_cpu") %" "-"
fi
if wants write; then
    row "write CPU s/GiB" \
        "$(cpu_per_gib "$best_ftpfs_write_cpu") (ftpfs+dd)" "$(cpu_per_gib "$best_curl_write_cpu")" \
        "$(percent "$best_ftpfs_write_cpu" "$best_curl_write_cpu") %" "-"
fi
if wants ls; then
    row "ls -l $LS_FILES files, cold" "${best_ls_cold}s" \
        "${best_curl_list}s (LIST)" "-" "-"
    ls_ratio="$(awk -v a="$best_ls_warm" -v b="$best_tmpfs_list" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    row "ls -l $LS_FILES files, warm" "${best_ls_warm}s" "${best_tmpfs_list}s (tmpfs)" \
        "${ls_ratio}x" "<= 1.2x $(verdict "$(awk -v r="$ls_ratio" 'BEGIN { print (r <= 1.2) }')")"
fi
if wants bigdir; then
    big_ratio="$(awk -v a="$best_big_warm" -v b="$best_tmpfs_big" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    row "ls -l $BIGDIR_FILES, cold" "${best_big_cold}s" "-" "-" \
        "<= 1.2 s $(verdict "$(awk -v s="$best_big_cold" 'BEGIN { print (s <= 1.2) }')")"
    row "ls -l $BIGDIR_FILES, warm" "${best_big_warm}s" "${best_tmpfs_big}s (tmpfs)" \
        "${big_ratio}x" "<= 1.2x $(verdict "$(awk -v r="$big_ratio" 'BEGIN { print (r <= 1.2) }')")"
    per_entry="$((worst_big_rss * 1024 / BIGDIR_FILES))"
    row "  RSS per entry" "$per_entry B" "-" "-" "<= 500 B $(verdict "$((per_entry <= 500))")"
    row "  peak RSS per entry" "$((worst_big_hwm * 1024 / BIGDIR_FILES)) B" "-" "-" "-"
fi
if wants tar; then
    row "tar -x $TAR_FILES x 4 KiB" "${best_tar}s ($(files_per_s "$best_tar")/s)" \
        "${best_curl_tar}s (uploads)" "-" "-"
    if [[ "$WRITEBACK" == 1 ]]; then
        rate="$(files_per_s "$best_wb_returned")"
        row "  writeback: tar returned" "${best_wb_returned}s (${rate}/s)" "-" "-" \
            ">= 3000/s $(verdict "$((rate >= 3000))")"
        rate="$(files_per_s "$best_wb_on_server")"
        # No target: issue 11's ">= 3,000 files/s" is tar's, which in this mode returns once the
        # data is durable in the spool; uploads start 0.2 s after each close (README).
        row "  writeback: on server" "${best_wb_on_server}s (${rate}/s)" "-" "-" "- (uploads after close)"
    fi
fi
report_load
