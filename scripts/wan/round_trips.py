#!/usr/bin/python3
"""Counts FTP round trips per FUSE operation in an `ftpfs mount -f -vvv` log.

    round_trips.py [--rtt-ms MS] LOG [LOG...]

How: the trace log has one line per FUSE request (`fuser::request ... FUSE(n) ... OPCODE`)
and one per control-channel command (`> CMD ...`) and reply (`< CODE ...`). Each command sent
is counted against the most recent FUSE request before it, so the attribution is exact for
programs that do one thing at a time (rsync, tar, find, ls) and approximate when several run
at once. One command costs one round trip, EPSV/PASV one more for the data connection's TCP
connect that follows; commands sent one after the other with no reply read in between were
pipelined (one write) and cost one round trip together; the 226 that ends an upload, read in
FLUSH/RELEASE/FSYNC, one (close-to-open waits for it). Login lines (USER, PASS, FEAT, OPTS,
TYPE) are counted under "(connect)". Commands of the background work (data connection or
listing opened ahead) are counted too, against whichever request was last: the count is an
upper bound of what a request waits for.

With --rtt-ms (the link's round-trip time), the time each request took (until the next
request arrived) is added up too, in round trips: what the application really waited for,
pipelining and background work included. Use a trace taken at a large RTT (50 ms) for it: at
2 ms, the CPU time of the mount and the program is of the same order.

Prints, per opcode: requests, round trips (counted) per request, the commands, and with
--rtt-ms the measured wait per request in round trips.
"""

import collections
import datetime
import re
import sys

REQUEST = re.compile(r"fuser::request\] FUSE\(\s*\d+\) ino \S+ (\w+)")
COMMAND = re.compile(r"ftp::control\] > (\S+)(?: (\S+))?")
REPLY = re.compile(r"ftp::control\] < \d{3}")
FINAL_REPLY = re.compile(r"ftp::control\] < 226 ")
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
# An upload's 226 read by these waits a round trip for it (data connection closed, reply).
CLOSING = {"FLUSH", "RELEASE", "FSYNC"}
LOGIN = {"USER", "PASS", "FEAT", "OPTS", "TYPE", "AUTH", "PBSZ", "PROT"}


def stamp_of(line):
    match = STAMP.search(line)
    if not match:
        return None
    return datetime.datetime.fromisoformat(match.group(1)).timestamp()


def main():
    args = sys.argv[1:]
    rtt = None
    if len(args) >= 2 and args[0] == "--rtt-ms":
        rtt = float(args[1]) / 1000.0
        args = args[2:]
    if not args:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    requests = collections.Counter()
    commands = collections.defaultdict(collections.Counter)
    trips = collections.Counter()
    waited = collections.Counter()
    for name in args:
        current = "(before any request)"
        started = None
        # A command right after another command (no reply read in between) was pipelined.
        after_command = False
        with open(name, errors="replace") as log:
            for line in log:
                request = REQUEST.search(line)
                if request:
                    now = stamp_of(line)
                    if started is not None and now is not None:
                        waited[current] += now - started
                    current = request.group(1)
                    started = now
                    requests[current] += 1
                    after_command = False
                    continue
                if current in CLOSING and FINAL_REPLY.search(line):
                    commands[current]["(226 of the upload)"] += 1
                    trips[current] += 1
                    after_command = False
                    continue
                if REPLY.search(line):
                    after_command = False
                    continue
                command = COMMAND.search(line)
                if not command:
                    continue
                verb = command.group(1)
                if verb == "SITE" and command.group(2):
                    verb = f"SITE {command.group(2)}"
                owner = "(connect)" if verb in LOGIN else current
                commands[owner][verb] += 1
                if verb in ("EPSV", "PASV"):
                    trips[owner] += 2
                elif not after_command:
                    trips[owner] += 1
                after_command = True
    total = sum(trips.values())
    header = f"{'operation':<14} {'requests':>8} {'round trips':>11} {'per request':>11}"
    if rtt:
        header += f" {'waited (RTT)':>12}"
    print(f"{header}  commands")
    for owner in sorted(set(requests) | set(commands), key=lambda o: -trips[o]):
        count = requests.get(owner, 0)
        per = f"{trips[owner] / count:.2f}" if count else "-"
        detail = ", ".join(f"{verb} {n}" for verb, n in commands[owner].most_common())
        row = f"{owner:<14} {count:>8} {trips[owner]:>11} {per:>11}"
        if rtt:
            wait = f"{waited[owner] / rtt / count:.2f}" if count else "-"
            row += f" {wait:>12}"
        print(f"{row}  {detail}")
    print(f"{'total':<14} {sum(requests.values()):>8} {total:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
