"""make soak's checks and figures (called by soak.sh).

soak.py counters PREV.json NEW.json LABEL PREVGEN NEWGEN
    exit 1 (and print each offence) when a monotonic counter of 'netioctl -j stats' is lower in
    NEW than in PREV, two samples of one daemon lifetime, across reloads and replaces too:
    netiod carries the pipelines' and the services' totals over to the new generation.
soak.py summary OUT_DIR
    print the figures (text and a Markdown table for BENCHMARKS.md); exit 1 when RSS or fds
    grew, a traffic class stalled, a TCP burst moved nothing or the secure flow was seen in
    clear.
"""

import glob
import json
import os
import re
import sys

# values that go up and down by nature
GAUGES = ("flows.active", "queue-packets", "late-max-us")


def named(v):
    """Lists of {"name": ...} objects become dicts keyed by name, so that paths are stable."""
    if isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in v):
        return {x["name"]: named(x) for x in v}
    if isinstance(v, dict):
        return {k: named(x) for k, x in v.items()}
    return v


def flatten(v, path=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from flatten(x, f"{path}.{k}" if path else k)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        yield path, v


def counters(prev, new, label, gen0, gen1):
    with open(prev) as f:
        a = dict(flatten(named(json.load(f))))
    with open(new) as f:
        b = dict(flatten(named(json.load(f))))
    bad = 0
    for k, v in a.items():
        if k not in b or any(k.endswith(g) for g in GAUGES):
            continue
        if b[k] < v:
            print(f"{label} gen {gen0}->{gen1}: {k} went from {v} to {b[k]}")
            bad += 1
    return 1 if bad else 0


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, v = line.split(None, 1)
            out[k] = v.strip()
    return out


def lifetimes(out):
    """{(daemon, life): [(t, rss_kb, fds, cpu_ticks)]} from samples.tsv."""
    lt = {}
    with open(f"{out}/samples.tsv") as f:
        for line in f:
            t, d, life, rss, fds, cpu = line.split()
            lt.setdefault((d, int(life)), []).append((int(t), int(rss), int(fds), int(cpu)))
    return lt


def growth_check(lt, env, clk):
    """Per lifetime: figures, and the offences (grown within a lifetime, or from the first
    lifetime's baseline)."""
    warm = int(env["SOAK_WARMUP"])
    tol_kb = int(env["SOAK_RSS_TOL_KB"])
    fd_tol = int(env["SOAK_FD_TOL"])
    rows, errors, first = [], [], {}
    for (d, life), s in sorted(lt.items()):
        t0 = s[0][0]
        post = [x for x in s if x[0] - t0 >= warm]
        cpu = max(((b[3] - a[3]) / clk / (b[0] - a[0]) * 100 for a, b in zip(s, s[1:]) if b[0] > a[0]),
                  default=0.0)
        row = dict(d=d, life=life, secs=s[-1][0] - t0, n=len(s), rss_min=min(x[1] for x in s),
                   rss_max=max(x[1] for x in s), fd_min=min(x[2] for x in s), fd_max=max(x[2] for x in s),
                   cpu=cpu, base_rss=None, end_rss=None, base_fd=None, end_fd=None)
        if len(post) >= 6:
            base, end = post[:3], post[-3:]
            row.update(base_rss=max(x[1] for x in base), end_rss=min(x[1] for x in end),
                       base_fd=max(x[2] for x in base), end_fd=min(x[2] for x in end))
            lim = row["base_rss"] + tol_kb
            if row["end_rss"] > lim:
                errors.append(f"{d} lifetime {life}: RSS grew from {row['base_rss']} to "
                              f"{row['end_rss']} KiB (limit {lim})")
            if row["end_fd"] > row["base_fd"] + fd_tol:
                errors.append(f"{d} lifetime {life}: fds grew from {row['base_fd']} to {row['end_fd']}")
            if d not in first:
                first[d] = row
            else:
                f0 = first[d]
                lim = f0["base_rss"] + tol_kb
                if row["base_rss"] > lim:
                    errors.append(f"{d} lifetime {life}: baseline RSS {row['base_rss']} KiB above "
                                  f"lifetime {f0['life']}'s {f0['base_rss']} (limit {lim})")
                if row["base_fd"] > f0["base_fd"] + fd_tol:
                    errors.append(f"{d} lifetime {life}: baseline fds {row['base_fd']} above "
                                  f"lifetime {f0['life']}'s {f0['base_fd']}")
        rows.append(row)
    return rows, errors


def ping_figures(out, t_end, gap_max):
    """Per class: sent, received, the longest time without a reply (from the first reply to
    the end of traffic)."""
    res, errors = {}, []
    for path in sorted(glob.glob(f"{out}/ping-*.log")):
        c = os.path.basename(path)[5:-4]
        ts, sent = [], 0
        with open(path) as f:
            for line in f:
                m = re.match(r"\[(\d+\.\d+)\] .* bytes from", line)
                if m:
                    ts.append(float(m.group(1)))
                m = re.match(r"(\d+) packets transmitted", line)
                if m:
                    sent = int(m.group(1))
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        if ts:
            gaps.append(max(0.0, t_end - ts[-1]))
        gap = max(gaps, default=float("inf"))
        res[c] = dict(sent=sent, recv=len(ts), gap=gap)
        if gap > gap_max:
            errors.append(f"{c}: no reply for {gap:.1f} s (limit {gap_max} s)")
    return res, errors


def service_packets(out):
    """Packets each service took in, summed over the last snapshot of every (daemon, lifetime):
    the generations of one lifetime carry their totals over (snap/D-LIFE-GEN.json)."""
    last = {}
    for path in glob.glob(f"{out}/snap/*.json"):
        d, life, gen = os.path.basename(path)[:-5].split("-")
        if int(gen) >= last.get((d, life), (-1, ""))[0]:
            last[(d, life)] = (int(gen), path)
    tot = {}
    for (d, _), (_, path) in last.items():
        with open(path) as f:
            st = json.load(f)
        for pl in st.get("pipelines", []):
            for s in pl.get("services", []):
                k = f"{s['name']} ({d})"
                tot[k] = tot.get(k, 0) + s.get("packets", 0)
    return tot


def clear_check(out):
    """The secure flow in clear: the payload marker or a packet on the wan capture."""
    errors = []
    for name in ("out-clear.pcap", "wan-secure.pcap"):
        path = f"{out}/{name}"
        if not os.path.exists(path):
            errors.append(f"{name}: no capture")
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"NETIOSOAKSECRET" in data:
            errors.append(f"{name}: the secure flow's payload marker is on the wire "
                          f"({data.count(b'NETIOSOAKSECRET')} times)")
    counts = {}
    with os.popen(f"tcpdump -n -r {out}/wan-secure.pcap 2>/dev/null | wc -l") as p:
        counts["wan"] = int(p.read())
    with os.popen(f"tcpdump -n -r {out}/out-clear.pcap 'net 192.0.2.0/24 or net 203.0.113.64/26'"
                  " 2>/dev/null | wc -l") as p:
        counts["out"] = int(p.read())
    if counts["wan"]:
        errors.append(f"wan link: {counts['wan']} packets of the secure site's addresses outside ESP")
    if counts["out"]:
        errors.append(f"outside link: {counts['out']} packets of the secure flow's addresses outside ESP")
    return counts, errors


def summary(out):
    env = os.environ
    run = read_kv(f"{out}/run.txt")
    clk = int(run["clk_tck"])
    lt = lifetimes(out)
    rows, errors = growth_check(lt, env, clk)
    pings, e = ping_figures(out, float(run["t_end"]), float(env["SOAK_GAP"]))
    errors += e
    clear, e = clear_check(out)
    errors += e
    pkts = service_packets(out)
    bursts = {}
    if os.path.exists(f"{out}/bursts.log"):
        with open(f"{out}/bursts.log") as f:
            for line in f:
                c, b = line.split()
                n, ok, tot = bursts.get(c, (0, 0, 0))
                bursts[c] = (n + 1, ok + (int(b) > 0), tot + int(b))
    errors += [f"{c}: {n - ok} of {n} iperf3 bursts moved nothing" for c, (n, ok, _) in bursts.items() if ok < n]
    with open(f"{out}/counters.err") as f:
        cerr = f.read().strip()
    if cerr:
        errors.append("counters went backwards:\n" + cerr)

    L = []
    L.append(f"- duration: {run['duration']} s of traffic ({int(run['duration']) / 60:.1f} min); "
             f"git {run['git']}; load average at the end {run['load']}")
    L.append(f"- reloads: {run['reloads_good']} good (A; B took {run['reloads_b']} of its own), "
             f"{run['reloads_bad']} bad (refused, generation unchanged); `service replace mark`: "
             f"{run['replaces']}; kill -9 + restart: A {run['kills_a']}, B {run['kills_b']}")
    L.append("- pings (10/s per class, whole run): " + "; ".join(
        f"{c} {p['recv']}/{p['sent']} answered, longest gap {p['gap']:.1f} s" for c, p in pings.items()))
    L.append("- iperf3 TCP bursts (5 s at 20 Mbit/s): " + "; ".join(
        f"{c} {ok}/{n} ran, {tot / 1e6:.0f} MB" for c, (n, ok, tot) in sorted(bursts.items())))
    L.append("- packets into each service (summed over lifetimes): " +
             ", ".join(f"{k} {v}" for k, v in sorted(pkts.items())))
    L.append(f"- secure flow in clear: {clear['out']} packets on the outside link, {clear['wan']} on "
             f"the wan link, payload marker found {'yes' if any('marker' in x for x in errors) else 'no'}")
    L.append("")
    L.append("| netiod | lifetime | s | samples | RSS min-max KiB | RSS base -> end | fds min-max | "
             "fds base -> end | peak CPU |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        be = (f"{r['base_rss']} -> {r['end_rss']}" if r["base_rss"] is not None else "too short")
        fe = (f"{r['base_fd']} -> {r['end_fd']}" if r["base_fd"] is not None else "too short")
        L.append(f"| {r['d']} | {r['life']} | {r['secs']} | {r['n']} | {r['rss_min']}-{r['rss_max']} | "
                 f"{be} | {r['fd_min']}-{r['fd_max']} | {fe} | {r['cpu']:.0f} % |")
    L.append("")
    L.append(f"Tolerances: RSS end <= base + {env['SOAK_RSS_TOL_KB']} KiB, "
             f"fds end <= base + {env['SOAK_FD_TOL']}; base = the "
             f"highest of the first 3 samples after {env['SOAK_WARMUP']} s of warm-up, end = the "
             "lowest of the last 3; a restarted daemon's base against the first lifetime's the "
             f"same way; no traffic class without a reply for more than {env['SOAK_GAP']} s.")
    print("\n".join(L))
    if errors:
        print("\nsoak FAILED:")
        print("\n".join(f"- {x}" for x in errors))
        return 1
    return 0


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "counters":
        return counters(*sys.argv[2:])
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        return summary(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
