#!/usr/bin/python3
"""Build in.pcap (mixed and malformed traffic) and, independently of netiod, the frames the
pcap.conf pipelines must produce: expect-out.pcap (forwarded) and expect-back.pcap (ICMP errors
sent back out of the input port). Prints the expected counters as JSON."""
import json
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach, ICMPv6EchoRequest,
                       ICMPv6PacketTooBig, IPv6, Raw, wrpcap)
from scapy.utils import checksum

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


def encap_ipip_ttl1(pkt):
    """The tun pipeline's output: the inner packet once decremented, outer TTL exactly 1."""
    inner = routed(pkt)[IP]
    return Ether(src=OUT_MAC, dst=NH_MAC) / IP(src=GW4, dst="203.0.113.9", ttl=1, id=0,
                                               flags="DF", proto=4, tos=inner.tos) / inner


def frag_needed(pkt, mtu):
    """The tunnel's frag-needed from the input port's address (its own local is IPv6)."""
    fwd = routed(pkt)
    return Ether(dst=HOST_MAC, src=IN_MAC) / IP(src=GW4, dst=pkt[IP].src, ttl=64, id=0, tos=0xc0) / \
        ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(bytes(fwd[IP])[:548])


def guard_frames():
    """Item by item what a router never forwards (and never answers with an ICMP error)."""
    never = [  # (frame, pipeline drop reason)
        (Ether(src=HOST_MAC, dst="01:00:5e:00:00:05") / IP(src=H4, dst="224.0.0.5", ttl=1, proto=89) /
         Raw(b"o" * 40), "link-scope-dst"),
        (Ether(src=HOST_MAC, dst="01:00:5e:00:00:fb") / IP(src=H4, dst="224.0.0.251", ttl=255) /
         UDP(sport=5353, dport=5353) / Raw(b"m"), "link-scope-dst"),
        (Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") /
         UDP(sport=68, dport=67) / Raw(b"d" * 20), "broadcast-dst"),
        (Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src=H4, dst="192.0.2.255") /
         UDP(sport=137, dport=137) / Raw(b"n"), "broadcast-dst"),
        (Ether(src=HOST_MAC, dst="33:33:00:00:00:01") / IPv6(src=H6, dst="ff02::1") /
         ICMPv6EchoRequest(), "link-scope-dst"),
        (Ether(src=HOST_MAC, dst="33:33:00:00:00:fb") / IPv6(src="fe80::10", dst="ff02::fb", hlim=1) /
         UDP(sport=5353, dport=5353) / Raw(b"m"), "link-scope-dst"),
        (Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src=H4, dst="198.51.100.10") /
         UDP(sport=3, dport=3), "l2-broadcast"),
    ]
    quiet = [  # TTL 1 and forbidden to answer: (frame, pipeline)
        (eth() / IP(src="127.0.0.1", dst="198.51.100.10", ttl=1) / UDP(sport=4, dport=4), "v4"),
        (eth() / IP(src=H4, dst="198.51.100.10", ttl=1) / ICMP(type=3, code=1) /
         Raw(bytes(IP(src="198.51.100.10", dst=H4) / UDP())[:28]), "v4"),
        (eth() / IP(src=H4, dst="198.51.100.10", ttl=1, frag=100, proto=17) / Raw(b"f" * 16), "v4"),
        (Ether(src=HOST_MAC, dst="01:00:5e:01:01:01") / IP(src=H4, dst="239.1.1.1", ttl=1) /
         UDP(sport=5, dport=5), "guard"),
        (eth() / IPv6(src="::", dst="2001:db8:2::5", hlim=1) / UDP(sport=6, dport=6), "v6"),
        (eth() / IPv6(src=H6, dst="2001:db8:2::5", hlim=1) / ICMPv6DestUnreach() /
         Raw(bytes(IPv6(src="2001:db8:2::5", dst=H6) / UDP())), "v6"),
    ]
    return never, quiet


def bad_l4_frames():
    """Routers validate these before forwarding (port drops by reason)."""
    good = IP(src=H4, dst="198.51.100.10", ttl=64)
    udp = bytes(UDP(sport=1, dport=1, len=8, chksum=0))
    hdr = bytearray(bytes(IP(src=H4, dst="198.51.100.10", proto=17, ihl=6, len=32,
                             options=[]))[:20])
    hdr[0], hdr[10], hdr[11] = 0x46, 0, 0
    hdr += bytes([0x44, 0, 0, 0])  # timestamp option of length 0
    hdr[10:12] = checksum(bytes(hdr)).to_bytes(2, "big")
    return [
        (raw_ipv4(bytes(hdr) + udp), "bad-ip-options"),
        (raw_ipv4(bytes(IP(src=H4, dst="198.51.100.10", frag=8191, proto=17) / Raw(b"x" * 16))),
         "bad-fragment"),
        (raw_ipv4(bytes(good / UDP(sport=1, dport=1, len=7) / Raw(b"u"))), "bad-udp-length"),
        (raw_ipv4(bytes(good / UDP(sport=1, dport=1, len=40) / Raw(b"u"))), "bad-udp-length"),
        (raw_ipv4(bytes(good / TCP(sport=1, dport=1, dataofs=4))), "bad-tcp-offset"),
        (raw_ipv4(bytes(good / TCP(sport=1, dport=1, dataofs=15))), "bad-tcp-offset"),
        (Ether(src=HOST_MAC, dst=IN_MAC) / IPv6(src=H6, dst="2001:db8:2::5") /
         UDP(sport=1, dport=1, len=30) / Raw(b"u"), "bad-udp-length"),
    ]


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

    never, quiet = guard_frames()
    bad = bad_l4_frames()
    tun1 = eth() / IP(src=H4, dst="198.51.100.200", ttl=64) / UDP(sport=11, dport=11) / Raw(b"t")
    tun_big = eth() / IP(src=H4, dst="198.51.100.201", flags="DF") / TCP(sport=12, dport=12) / \
        Raw(b"g" * (1431 - 40))
    inp += [f for f, _ in never] + [f for f, _ in quiet] + [f for f, _ in bad]
    inner = IP(src="203.0.113.130", dst="198.51.100.10", ttl=64) / UDP(sport=14, dport=14) / Raw(b"i")
    from_peer = eth() / IP(src="203.0.113.9", dst="203.0.113.1", ttl=1, proto=4) / inner
    inp += [tun1, tun_big, from_peer]
    out.append(encap_ipip_ttl1(tun1))
    out.append(routed(Ether() / inner))
    back.append(frag_needed(tun_big, 1430))
    pipeline_drops = {}
    for _, why in never:
        pl = "v4" if why == "l2-broadcast" else "guard"
        pipeline_drops.setdefault(pl, {}).setdefault(why, 0)
        pipeline_drops[pl][why] += 1
    suppressed = {}
    for _, pl in quiet:
        suppressed[pl] = suppressed.get(pl, 0) + 1
    drops = {"truncated-l2": 1, "truncated-ip": 3, "bad-ihl": 1, "bad-ip-length": 2,
             "bad-ip-checksum": 1, "truncated-l4": 1}
    for _, why in bad:
        drops[why] = drops.get(why, 0) + 1
    wrpcap(f"{outdir}/in.pcap", inp, linktype=1)
    wrpcap(f"{outdir}/expect-out.pcap", out)
    wrpcap(f"{outdir}/expect-back.pcap", back)
    json.dump({
        "rx": len(inp), "ignored": 1, "unclaimed": 2, "tx": len(out), "back": len(back),
        "drops": drops, "pipeline_drops": pipeline_drops, "suppressed": suppressed,
        "mark_dropped": 1, "ttl": 1 + sum(1 for _, pl in quiet if pl == "v4"), "mtu_v4": 2,
        "mtu_v6": 1, "tun6_icmp": 1,
    }, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
