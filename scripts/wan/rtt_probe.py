#!/usr/bin/python3
"""Prints the median TCP round-trip time on 127.0.0.1, in ms: checks a delay set up by netns.sh.

    rtt_probe.py [ROUNDS]

ICMP (ping) is not a good check here: what the benchmark cares about is TCP, and one byte
echoed over one connection with TCP_NODELAY is exactly one round trip of the kind an FTP
command and its reply make.
"""

import socket
import statistics
import sys
import threading
import time


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def echo():
        peer, _ = listener.accept()
        peer.settimeout(10)
        while data := peer.recv(16):
            peer.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    client = socket.create_connection(listener.getsockname(), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(rounds):
        start = time.monotonic()
        client.sendall(b"x")
        if client.recv(16) != b"x":
            print("rtt_probe: echo failed", file=sys.stderr)
            return 1
        samples.append((time.monotonic() - start) * 1000)
    print(f"{statistics.median(samples):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
