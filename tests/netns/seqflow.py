#!/usr/bin/python3
"""Sequence-numbered UDP flows for the netns tests: per-flow order and loss, measured.

  seqflow.py recv ADDR PORT NPORTS NFLOWS TIMEOUT  print one JSON line once NFLOWS flows ended
  seqflow.py send DST PORT NPORTS SPORTS COUNT print the number of datagrams sent

A sender runs SPORTS source ports against each of NPORTS destination ports (SPORTS * NPORTS
flows), COUNT datagrams per flow, interleaved, each carrying (flow, seq). The receiver checks
that every flow's sequence numbers only go up and counts what arrived; a final datagram with
seq 0xffffffff per flow ends its flow.
"""
import json
import select
import socket
import struct
import sys
import time

END = 0xFFFFFFFF


def recv(addr, port, nports, nflows, timeout):
    socks = []
    for p in range(port, port + nports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: no socket drops
        s.bind((addr, p))
        s.setblocking(False)
        socks.append(s)
    last, count, reordered, ended, ends = {}, {}, 0, set(), 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select(socks, [], [], 0.5)
        for s in r:
            while True:
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    break
                flow, seq = struct.unpack("!II", data[:8])
                if seq == END:
                    ended.add(flow)
                    ends += 1
                    continue
                if flow in last and seq <= last[flow]:
                    reordered += 1
                last[flow] = seq
                count[flow] = count.get(flow, 0) + 1
        if len(ended) >= nflows:
            time.sleep(0.2)  # the remaining end markers
            for s in socks:
                try:
                    while s.recvfrom(2048)[1]:
                        ends += 1
                except BlockingIOError:
                    pass
            break
    print(json.dumps({"flows": len(count), "received": sum(count.values()),
                      "reordered": reordered, "ended": len(ended), "end_markers": ends,
                      "min_per_flow": min(count.values()) if count else 0}))


def send(dst, port, nports, sports, n):
    socks = []
    for i in range(sports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port + 14000 + i))  # distinct per sender
        socks.append(s)
    flows = [(f, s, port + d) for f, (s, d) in
             enumerate((s, d) for s in socks for d in range(nports))]
    pad = bytes(64)
    sent = 0
    for seq in range(1, n + 1):
        for flow, s, dport in flows:
            s.sendto(struct.pack("!II", flow, seq) + pad, (dst, dport))
            sent += 1
        if seq % 4 == 0:
            # paced (64 datagrams per burst per sender): the test is about order and loss in
            # netiod, not about overflowing a veth's backlog on a loaded machine
            time.sleep(0.005)
    time.sleep(0.3)
    for flow, s, dport in flows:
        for _ in range(3):
            s.sendto(struct.pack("!II", flow, END), (dst, dport))
    print(sent)


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "recv":
        recv(a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6]))
    else:
        send(a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]))
