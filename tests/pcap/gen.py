#!/usr/bin/python3
"""Build in.pcap (mixed and malformed traffic) and, independently of netiod, the frames the
pcap.conf pipelines must produce: expect-out.pcap (forwarded) and expect-back.pcap (ICMP errors
sent back out of the input port). Prints the expected counters as JSON."""
import json
import sys

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6PacketTooBig, IPv6, Raw, wrpcap

IN_MAC, OUT_MAC, NH_MAC, HOST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:aa", "02:00:00:00:00:10"
GW4, GW6 = "192.0.2.1", "2001:db8:1::1"
H4, H6 = "192.0.2.10", "2001:db8:1::10"


def eth():
    return Ether(src=HOST_MAC, dst=IN_MAC)


def routed(pkt, dscp=None):
    """What netiod sends for pkt: new MACs, TTL/hop limit - 1, (DSCP), checksums redone."""
    out = pkt.copy()
    out[Ether].src, out[Ether].dst = OUT_MAC, NH_MAC
    if IP in out:
        out[IP].ttl -= 1
        if dscp is not None:
            out[IP].tos = (dscp << 2) | (out[IP].tos & 3)
        del out[IP].chksum
    else:
        out[IPv6].hlim -= 1
    return Ether(bytes(out))


def time_exceeded(pkt):
    quote = bytes(pkt[IP])
    return Ether(dst=HOST_MAC, src=IN_MAC) / IP(src=GW4, dst=pkt[IP].src, ttl=64, id=0) / \
        ICMP(type=11, code=0) / Raw(quote)


def too_big(pkt, mtu=1500):
    """The ICMP error netiod answers with: quoting the packet as forwarded (TTL - 1)."""
    fwd = routed(pkt)
    if IP in pkt:
        return Ether(dst=HOST_MAC, src=IN_MAC) / IP(src=GW4, dst=pkt[IP].src, ttl=64, id=0) / \
            ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(bytes(fwd[IP])[:548])
    return Ether(dst=HOST_MAC, src=IN_MAC) / IPv6(src=GW6, dst=pkt[IPv6].src, hlim=64) / \
        ICMPv6PacketTooBig(mtu=mtu) / Raw(bytes(fwd[IPv6])[:1184])


def raw_ipv4(hdr_bytes, payload=b""):
    return Ether(src=HOST_MAC, dst=IN_MAC, type=0x0800) / Raw(hdr_bytes + payload)


def main(outdir):
    inp, out, back = [], [], []
    web = eth() / IP(src=H4, dst="198.51.100.10", ttl=64) / TCP(sport=40000, dport=80, flags="S")
    udp = eth() / IP(src=H4, dst="198.51.100.10", ttl=64) / UDP(sport=5000, dport=6000) / Raw(b"x" * 100)
    dropped = eth() / IP(src=H4, dst="198.51.100.66") / UDP(sport=5000, dport=6000)
    ttl1 = eth() / IP(src=H4, dst="198.51.100.10", ttl=1) / UDP(sport=5001, dport=6000) / Raw(b"ttl")
    v6 = eth() / IPv6(src=H6, dst="2001:db8:2::5", hlim=64) / UDP(sport=7000, dport=8000) / Raw(b"six")
    padded = eth() / IP(src=H4, dst="198.51.100.11") / UDP(sport=1, dport=2) / Raw(b"p")
    padded_frame = Ether(bytes(padded) + b"\0" * (60 - len(bytes(padded))))
    big_df = eth() / IP(src=H4, dst="198.51.100.10", flags="DF") / UDP(sport=7, dport=7) / Raw(b"d" * 1600)
    big = eth() / IP(src=H4, dst="198.51.100.10") / UDP(sport=8, dport=8) / Raw(b"n" * 1600)
    big6 = eth() / IPv6(src=H6, dst="2001:db8:2::5") / UDP(sport=9, dport=9) / Raw(b"6" * 1600)
    unclaimed = eth() / IP(src=H4, dst="203.0.113.5") / UDP(sport=1, dport=2)
    local = eth() / IP(src=H4, dst=GW4) / ICMP()
    arp = Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=H4, pdst=GW4)

    good = bytes(IP(src=H4, dst="198.51.100.10") / UDP(sport=9, dport=9) / Raw(b"abcd"))
    bad_ihl = bytes([0x43]) + good[1:]
    bad_len = good[:2] + (len(good) + 40).to_bytes(2, "big") + good[4:]
    bad_csum = good[:10] + b"\x00\x01" + good[12:]
    trunc_tcp = bytes(IP(src=H4, dst="198.51.100.10", proto=6, len=30) / Raw(b"\0" * 10))
    malformed = [
        Ether(src=HOST_MAC, dst=IN_MAC, type=0x0800) / Raw(b""),  # IPv4 ethertype, no header
        raw_ipv4(good[:12]),  # truncated IPv4 header
        raw_ipv4(bad_ihl),
        raw_ipv4(bad_len),
        raw_ipv4(bad_csum),
        raw_ipv4(trunc_tcp),
        Ether(src=HOST_MAC, dst=IN_MAC, type=0x86dd) / Raw(bytes(IPv6(src=H6, dst="2001:db8:2::5"))[:20]),
        Ether(src=HOST_MAC, dst=IN_MAC, type=0x86dd) / Raw(bytes(IPv6(src=H6, dst="2001:db8:2::5", plen=200, nh=59))),
        Raw(b"\x02\x00\x00\x00\x00\x01\x02\x00"),  # 8-byte runt frame
    ]
    inp += [web, udp, dropped, ttl1, v6, padded_frame, unclaimed, local, arp, big_df, big, big6]
    inp += malformed
    for _ in range(5):
        inp.append(udp)
    out += [routed(web, dscp=46), routed(udp), routed(v6), routed(padded)] + [routed(udp)] * 5
    back += [time_exceeded(ttl1), too_big(big_df), too_big(big6)]
    wrpcap(f"{outdir}/in.pcap", inp, linktype=1)
    wrpcap(f"{outdir}/expect-out.pcap", out)
    wrpcap(f"{outdir}/expect-back.pcap", back)
    json.dump({
        "rx": len(inp), "ignored": 1, "unclaimed": 2, "tx": len(out), "back": len(back),
        "drops": {"truncated-l2": 1, "truncated-ip": 3, "bad-ihl": 1, "bad-ip-length": 2,
                  "bad-ip-checksum": 1, "truncated-l4": 1},
        "mark_dropped": 1, "ttl": 1, "mtu_v4": 2, "mtu_v6": 1,
    }, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
