#!/usr/bin/env bash
# A network namespace whose loopback has a fixed round-trip time: a small WAN on one machine.
#
#   sudo scripts/wan/netns.sh up NAME RTT_MS     # create it (prints the measured TCP RTT)
#   sudo scripts/wan/netns.sh down NAME          # remove it, stop the delay process
#   nsenter --net=/run/netns/NAME COMMAND...     # run a server, a mount, a client inside
#
# Or source it and call wan_up / wan_down (scripts/bench-wan.sh does, with a trap).
#
# Why this way:
# - Everything that should see the latency (FTP server, ftpfs, curl, lftp, rclone) runs inside
#   the namespace and talks over ITS loopback. Nothing leaves the machine, and the host's own
#   loopback (other people's tests) is untouched.
# - The kernel here has no sch_netem, so `tc qdisc add dev lo root netem delay` is not an
#   option. Instead one iptables rule (mangle/PREROUTING, in the namespace only) hands every
#   packet to NFQUEUE, and scripts/wan/delay.py holds each one for RTT/2 before accepting it.
#   Each direction crosses PREROUTING once, so a round trip costs RTT. The rule has
#   --queue-bypass: if delay.py is not running, packets pass undelayed instead of being dropped.
# - Enter with `nsenter --net=...`, not `ip netns exec`: the latter also makes a private mount
#   namespace, so a FUSE mount made inside would be invisible to the rest of the machine.
# - TCP buffers inside are raised so one connection can fill a 50 ms pipe (the defaults cap a
#   stream at a few MiB/s at that RTT and would measure the buffers, not the client).
#
# State (the delay process's PID and log) lives in /run/ftpfs-wan/NAME/. wan_down only ever
# stops the PID that wan_up started (recorded there), and only if it is still delay.py.
# Needs: iproute2, iptables, /usr/bin/python3. wan_up checks the delay with rtt_probe.py and
# sets WAN_MEASURED_RTT (median TCP round trip in ms).

WAN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WAN_STATE_ROOT=/run/ftpfs-wan

_wan_fail() {
    echo "wan: $*" >&2
    return 1
}

# wan_up NAME RTT_MS: creates namespace NAME with RTT_MS round-trip time on its loopback.
wan_up() {
    local name="$1" rtt="$2"
    [[ "$name" =~ ^[A-Za-z0-9_-]{1,40}$ ]] || _wan_fail "bad namespace name: $name" || return 1
    [[ "$rtt" =~ ^[0-9]+$ ]] && ((rtt <= 2000)) || _wan_fail "RTT_MS must be 0..2000" || return 1
    local cmd
    for cmd in ip iptables nsenter; do
        command -v "$cmd" >/dev/null || _wan_fail "$cmd is missing" || return 1
    done
    [[ -x /usr/bin/python3 ]] || _wan_fail "/usr/bin/python3 is missing" || return 1
    [[ ! -e "/run/netns/$name" ]] ||
        _wan_fail "namespace $name exists already (scripts/wan/netns.sh down $name)" || return 1
    local state="$WAN_STATE_ROOT/$name"
    mkdir -p "$state"
    ip netns add "$name" || return 1
    local inside=(nsenter "--net=/run/netns/$name")
    "${inside[@]}" ip link set lo up || return 1
    "${inside[@]}" sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864" \
        net.ipv4.tcp_wmem="4096 16384 67108864" || return 1
    if ((rtt > 0)); then
        local one_way
        one_way="$(awk -v r="$rtt" 'BEGIN { printf "%.1f", r / 2 }')"
        "${inside[@]}" iptables -t mangle -A PREROUTING -j NFQUEUE --queue-num 0 --queue-bypass ||
            return 1
        # Real-time priority when allowed: on a busy machine a delay process that waits for a
        # CPU adds its own latency on top of the one asked for.
        local priority=()
        chrt -f 10 true 2>/dev/null && priority=(chrt -f 10)
        "${inside[@]}" "${priority[@]}" /usr/bin/python3 "$WAN_DIR/delay.py" 0 "$one_way" \
            </dev/null >"$state/delay.log" 2>&1 &
        echo $! >"$state/delay.pid"
        # Bounded wait until delay.py has bound the queue (it logs one line then).
        local i
        for i in $(seq 1 50); do
            grep -q 'per packet' "$state/delay.log" 2>/dev/null && break
            sleep 0.1
        done
        grep -q 'per packet' "$state/delay.log" ||
            _wan_fail "delay.py did not start: $(cat "$state/delay.log")" || return 1
    fi
    WAN_MEASURED_RTT="$("${inside[@]}" timeout 30 /usr/bin/python3 "$WAN_DIR/rtt_probe.py")" ||
        _wan_fail "no TCP round trip inside $name" || return 1
    echo "wan: namespace $name up, TCP round trip ${WAN_MEASURED_RTT} ms (asked for $rtt ms)"
}

# wan_down NAME: stops the delay process started by wan_up and deletes the namespace.
wan_down() {
    local name="$1" state="$WAN_STATE_ROOT/$1" pid i
    if [[ -f "$state/delay.pid" ]]; then
        pid="$(cat "$state/delay.pid")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && grep -q 'delay.py' "/proc/$pid/cmdline" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 30); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$state/delay.pid" "$state/delay.log"
    fi
    if [[ -e "/run/netns/$name" ]]; then
        ip netns del "$name" 2>/dev/null || true
    fi
    rmdir "$state" 2>/dev/null || true
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}" in
    up)
        [[ $# == 3 ]] || _wan_fail "usage: netns.sh up NAME RTT_MS" || exit 2
        wan_up "$2" "$3" || {
            wan_down "$2"
            exit 1
        }
        ;;
    down)
        [[ $# == 2 ]] || _wan_fail "usage: netns.sh down NAME" || exit 2
        wan_down "$2"
        ;;
    *)
        echo "usage: netns.sh up NAME RTT_MS | down NAME" >&2
        exit 2
        ;;
    esac
fi
