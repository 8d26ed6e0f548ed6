#!/usr/bin/python3
"""Delays every packet of one NFQUEUE by a fixed time: a stand-in for `tc qdisc netem delay`.

    delay.py QUEUE_NUMBER DELAY_MS

Why this exists: the WAN benchmark (scripts/bench-wan.sh) needs a link with a real round-trip
time, and the kernels we run on are often built without sch_netem. What they do have is
netfilter's NFQUEUE target: an iptables rule hands each packet to a user-space program, which
answers with a verdict. This program holds each packet for DELAY_MS before it answers "accept",
so a rule on the namespace's loopback delays every packet once (RTT = 2 x DELAY_MS, since each
direction crosses the rule once).

How:
- Plain netlink (socket.AF_NETLINK, NETLINK_NETFILTER) from the standard library; no
  libnetfilter_queue, no pip package.
- Only packet metadata is copied to us (NFQNL_COPY_META): we never look at payloads, which
  keeps the cost per packet low; GSO packets are passed as they are (NFQA_CFG_F_GSO), so a
  bulk transfer is a few large packets rather than many small ones.
- The delay is the same for every packet and the kernel numbers queued packets in order, so a
  single batch verdict ("accept every id up to N") releases all packets that are due at once.
- Run it inside the network namespace whose rule feeds the queue. The rule should use
  `--queue-bypass`: when this program is not running, packets pass undelayed instead of being
  dropped, so a crash never leaves a namespace where every connection hangs.
- SIGTERM/SIGINT: every packet still held is released, then the program exits.
"""

import collections
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33

NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_CONFIG = 2
NFQNL_MSG_VERDICT_BATCH = 3

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
NFGEN_HEADER = struct.Struct("=BBH")  # family, version, resource id (big endian)

# Attribute types.
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2

NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_GSO = 0x4
NF_ACCEPT = 1
QUEUE_MAXLEN = 100_000


def netlink_attribute(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


class Queue:
    """A bound NFQUEUE: receives packet ids, sends verdicts."""

    def __init__(self, number):
        self.number = number
        self.sequence = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        # A burst of a bulk transfer can queue many packets at once: a big receive buffer,
        # and no ENOBUFS error when it overflows anyway (the kernel then drops, TCP resends).
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))
        command = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        self.send(NFQNL_MSG_CONFIG, [netlink_attribute(NFQA_CFG_CMD, command)], ack=True)
        params = struct.pack(">IB", 0, NFQNL_COPY_META)
        self.send(
            NFQNL_MSG_CONFIG,
            [
                netlink_attribute(NFQA_CFG_PARAMS, params),
                netlink_attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", QUEUE_MAXLEN)),
                netlink_attribute(NFQA_CFG_MASK, struct.pack(">I", NFQA_CFG_F_GSO)),
                netlink_attribute(NFQA_CFG_FLAGS, struct.pack(">I", NFQA_CFG_F_GSO)),
            ],
            ack=True,
        )

    def send(self, message_type, attributes, ack=False):
        self.sequence += 1
        body = NFGEN_HEADER.pack(socket.AF_UNSPEC, 0, socket.htons(self.number))
        body += b"".join(attributes)
        flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
        kind = (NFNL_SUBSYS_QUEUE << 8) | message_type
        header = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), kind, flags, self.sequence, 0)
        self.sock.send(header + body)

    def accept_up_to(self, packet_id):
        """Accepts every queued packet whose id is <= packet_id."""
        verdict = struct.pack(">II", NF_ACCEPT, packet_id)
        self.send(NFQNL_MSG_VERDICT_BATCH, [netlink_attribute(NFQA_VERDICT_HDR, verdict)])

    def received_ids(self):
        """Packet ids of every message waiting on the socket (never blocks)."""
        ids = []
        while True:
            try:
                data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return ids
            ids.extend(self._parse(data))

    @staticmethod
    def _parse(data):
        offset = 0
        while offset + NLMSG_HEADER.size <= len(data):
            length, kind, _flags, _seq, _port = NLMSG_HEADER.unpack_from(data, offset)
            if length < NLMSG_HEADER.size or offset + length > len(data):
                return
            if kind == NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", data, offset + NLMSG_HEADER.size)
                if error != 0:
                    print(f"delay.py: netlink error {error}", file=sys.stderr, flush=True)
            elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                position = offset + NLMSG_HEADER.size + NFGEN_HEADER.size
                end = offset + length
                while position + 4 <= end:
                    attr_length, attr_kind = struct.unpack_from("=HH", data, position)
                    if attr_length < 4:
                        break
                    if attr_kind & 0x7FFF == NFQA_PACKET_HDR:
                        (packet_id,) = struct.unpack_from(">I", data, position + 4)
                        yield packet_id
                        break
                    position += (attr_length + 3) & ~3
            offset += (length + 3) & ~3


def main():
    if len(sys.argv) != 3:
        print("usage: delay.py QUEUE_NUMBER DELAY_MS", file=sys.stderr)
        return 2
    try:
        number = int(sys.argv[1])
        delay = float(sys.argv[2]) / 1000.0
    except ValueError:
        print("delay.py: QUEUE_NUMBER and DELAY_MS must be numbers", file=sys.stderr)
        return 2
    if not 0 <= number <= 65535 or not 0 <= delay <= 10:
        print("delay.py: queue 0..65535, delay 0..10000 ms", file=sys.stderr)
        return 2

    queue = Queue(number)
    held = collections.deque()  # (release time, packet id), in arrival order
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    print(f"delay.py: queue {number}, {delay * 1000:.1f} ms per packet", flush=True)
    packets = 0
    while not stopping:
        now = time.monotonic()
        due = None
        while held and held[0][0] <= now:
            due = held.popleft()[1]
        if due is not None:
            queue.accept_up_to(due)
        wait = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
        try:
            readable, _, _ = select.select([queue.sock], [], [], wait)
        except InterruptedError:
            continue
        if readable:
            release = time.monotonic() + delay
            for packet_id in queue.received_ids():
                held.append((release, packet_id))
                packets += 1
    if held:
        queue.accept_up_to(held[-1][1])
    print(f"delay.py: stopped after {packets} packets", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
