#!/usr/bin/python3
"""Counts FTP round trips per FUSE operation in an `ftpfs mount -f -vvv` log.

    round_trips.py LOG [LOG...]

How: the trace log has one line per FUSE request (`fuser::request ... FUSE(n) ... OPCODE`)
and one per control-channel command (`> CMD ...`). Each command sent is counted against the
most recent FUSE request before it, so the attribution is exact for programs that do one
thing at a time (rsync, tar, find, ls) and approximate when several run at once. One command
costs one round trip, EPSV/PASV one more for the data connection's TCP connect that follows;
the 226 that ends an upload, read in FLUSH/RELEASE/FSYNC, one (close-to-open waits for it).
Login lines (USER, PASS, FEAT, OPTS, TYPE) are counted under "(connect)".

Prints, per opcode: requests, commands sent, round trips per request, and the commands.
"""

import collections
import re
import sys

REQUEST = re.compile(r"fuser::request\] FUSE\(\s*\d+\) ino \S+ (\w+)")
COMMAND = re.compile(r"ftp::control\] > (\S+)(?: (\S+))?")
FINAL_REPLY = re.compile(r"ftp::control\] < 226 ")
# An upload's 226 read by these waits a round trip for it (data connection closed, reply).
CLOSING = {"FLUSH", "RELEASE", "FSYNC"}
LOGIN = {"USER", "PASS", "FEAT", "OPTS", "TYPE", "AUTH", "PBSZ", "PROT"}


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    requests = collections.Counter()
    commands = collections.defaultdict(collections.Counter)
    trips = collections.Counter()
    for name in sys.argv[1:]:
        current = "(before any request)"
        with open(name, errors="replace") as log:
            for line in log:
                request = REQUEST.search(line)
                if request:
                    current = request.group(1)
                    requests[current] += 1
                    continue
                if current in CLOSING and FINAL_REPLY.search(line):
                    commands[current]["(226 of the upload)"] += 1
                    trips[current] += 1
                    continue
                command = COMMAND.search(line)
                if not command:
                    continue
                verb = command.group(1)
                if verb == "SITE" and command.group(2):
                    verb = f"SITE {command.group(2)}"
                owner = "(connect)" if verb in LOGIN else current
                commands[owner][verb] += 1
                trips[owner] += 2 if verb in ("EPSV", "PASV") else 1
    total = sum(trips.values())
    print(f"{'operation':<14} {'requests':>8} {'round trips':>11} {'per request':>11}  commands")
    for owner in sorted(set(requests) | set(commands), key=lambda o: -trips[o]):
        count = requests.get(owner, 0)
        per = f"{trips[owner] / count:.2f}" if count else "-"
        detail = ", ".join(f"{verb} {n}" for verb, n in commands[owner].most_common())
        print(f"{owner:<14} {count:>8} {trips[owner]:>11} {per:>11}  {detail}")
    print(f"{'total':<14} {sum(requests.values()):>8} {total:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
