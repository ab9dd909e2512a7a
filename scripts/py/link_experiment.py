"""The link laboratory's experiment (docs/link.md): the reference bundle served in one network
namespace, `meanet run --input -` fed a paced stream in another, over an emulated link that
follows a trace; run once per routing mode; per phase of the trace, latency from arrival to
answer, the share answered within the budget, accuracy, offload share, edge energy, bytes,
degraded, withheld and lost samples; and a timeline plot (SVG).

  link_experiment.py run --meanet BIN --emu BIN --bundle DIR --images IDX --labels IDX
      --out DIR [--modes unshaped,static,online,aware] [--rate 100] [--budget-ms 150]
      [--phases 30:20,30:1,10:0,30:20] [--rtt-ms 40] [--payload f32|u8] [--energy-mj 2]
  modes: unshaped, static (link_aware = false), online (the share controller alone), aware
  (link-aware, --budget-ms), lte (aware, LTE radio prices), energy (lte with --energy-mj)
  link_experiment.py feed ...   (inside the edge namespace; called by `run`)

Standard library only: it runs as root inside the namespaces, beside the binaries under test.
"""

import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "..", "link-lab")
CLOUD = "10.201.2.2:8000"

# LTE's radio (Huang et al., MobiSys 2012), tail and promotion included, as `--set` flags.
LTE = [
    x
    for k, v in [("kind", "lte"), ("uplink_mbps", "5.64"), ("downlink_mbps", "12.74"),
                 ("rtt_s", "0.07"), ("alpha_up_mw_per_mbps", "438.39"),
                 ("alpha_down_mw_per_mbps", "51.97"), ("beta_mw", "1288.04"),
                 ("tail_s", "11.576"), ("tail_mw", "1060.0"), ("promotion_s", "0.2601"),
                 ("promotion_mw", "1210.7")]
    for x in ("--set", f"link.{k}={v}")
]

# What each mode adds to `meanet run`.
MODES = {
    "unshaped": ["--set", "policy.link_aware=false"],
    "static": ["--set", "policy.link_aware=false"],
    "online": ["--set", "policy.link_aware=false", "--set", "policy.online=true"],
    "aware": ["--set", "policy.link_aware=true"],
    # The same on LTE's radio: what the energy budget is measured against.
    "lte": ["--set", "policy.link_aware=true"] + LTE,
    # LTE with an energy budget (--energy-mj).
    "energy": ["--set", "policy.link_aware=true"] + LTE,
}


def idx(path):
    data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def feed(a):
    """Inside the edge namespace: waits for the cloud, then writes samples at `rate` into
    `meanet run --input -`, timestamping each write and each outcome line read back."""
    shape, pixels = idx(a.images)
    # One sample: the product of the dimensions after the first (28x28, or 3x224x224 CHW).
    per = 1
    for d in shape[1:]:
        per *= d
    # A stream longer than the file goes round it again.
    n, count = a.samples, shape[0]
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://{CLOUD}/v2/health/ready", timeout=2).read()
            break
        except Exception:
            if time.time() > deadline:
                sys.exit("feed: the cloud never became ready")
            time.sleep(0.2)
    cmd = [a.meanet, "run", a.bundle, "--input", "-", "--json", "--set", f"cloud.url=http://{CLOUD}"]
    cmd += json.loads(a.extra)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(a.out + ".stderr", "w"))
    writes = [0.0] * n
    lines = []

    def reader():
        for line in proc.stdout:
            lines.append((time.time(), line))

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.time() + 0.1
    for i in range(n):
        wait = t0 + i / a.rate - time.time()
        if wait > 0:
            time.sleep(wait)
        writes[i] = time.time()
        j = i % count
        proc.stdin.write(pixels[j * per : (j + 1) * per])
        proc.stdin.flush()
    proc.stdin.close()
    code = proc.wait()
    t.join()
    outcomes = []
    for at, line in lines:
        try:
            o = json.loads(line)
        except ValueError:
            continue
        o["t_read"] = at
        outcomes.append(o)
    json.dump({"writes": writes, "outcomes": outcomes, "exit": code}, open(a.out, "w"))


def percentile(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def phases_of(spec):
    out, t = [], 0.0
    for part in spec.split(","):
        d, r = part.split(":")
        out.append((t, t + float(d), float(r)))
        t += float(d)
    return out


def analyse(path, start, phases, labels, budget_ms):
    r = json.load(open(path))
    writes, outs = r["writes"], r["outcomes"]
    by_index = {o["index"]: o for o in outs}
    rows = []
    timeline = []
    for k, (a, b, rate) in enumerate(phases):
        idxs = [i for i, w in enumerate(writes) if a <= w - start < b]
        got = [by_index[i] for i in idxs if i in by_index]
        lat = [1e3 * (by_index[i]["t_read"] - writes[i]) for i in idxs if i in by_index]
        sent = [o for o in got if o["exit"] == "cloud" or o.get("degraded")]
        rows.append({
            "phase": f"{a:.0f}-{b:.0f} s, {rate:g} Mbit/s" if rate > 0 else f"{a:.0f}-{b:.0f} s, cut",
            "samples": len(idxs),
            "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
            "within": sum(1 for x in lat if x <= budget_ms) / max(1, len(idxs)),
            "accuracy": sum(1 for i in idxs if i in by_index and by_index[i]["class"] == labels[i % len(labels)]) / max(1, len(idxs)),
            "offload": len(sent) / max(1, len(got)),
            # Samples answered by the cloud per second: what the link carried.
            "cloud_per_s": sum(1 for o in got if o["exit"] == "cloud") / (b - a),
            "energy_mj": 1e3 * sum(o["edge_energy_j"] for o in got) / max(1, len(got)),
            "bytes": sum(o["bytes_sent"] for o in got),
            "degraded": sum(1 for o in got if o.get("degraded")),
            "withheld": sum(1 for o in got if o.get("withheld")),
            "lost": len(idxs) - len(got),
        })
    # Per second: offload share and p95 latency.
    end = phases[-1][1]
    for s in range(int(end)):
        idxs = [i for i, w in enumerate(writes) if s <= w - start < s + 1 and i in by_index]
        lat = [1e3 * (by_index[i]["t_read"] - writes[i]) for i in idxs]
        sent = [i for i in idxs if by_index[i]["exit"] == "cloud" or by_index[i].get("degraded")]
        timeline.append((s, len(sent) / max(1, len(idxs)), percentile(lat, 95)))
    return rows, timeline, len(writes) - len(outs), r["exit"]


def svg(timelines, phases, budget_ms, path):
    """Three panels per mode: link rate, offload share and p95 latency, per second."""
    w, h, pad = 900, 130, 40
    modes = list(timelines)
    H = (3 * h + 30) * len(modes) + 20
    end = phases[-1][1]
    x = lambda t: pad + (w - 2 * pad) * t / end
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{H}" font-family="sans-serif" font-size="11">']
    out.append(f'<rect width="{w}" height="{H}" fill="white"/>')
    y0 = 10
    top_rate = max(r for _, _, r in phases) or 1
    for m in modes:
        tl = timelines[m]
        out.append(f'<text x="{pad}" y="{y0 + 12}" font-size="13" font-weight="bold">{m}</text>')
        panels = [
            ("link rate, Mbit/s", [(a, r) for a, _, r in phases] + [(end, phases[-1][2])], top_rate, True),
            ("offload share", [(t + 0.5, s) for t, s, _ in tl], 1.0, False),
            (f"p95 latency, ms (budget {budget_ms:g})", [(t + 0.5, min(l, 4 * budget_ms)) for t, _, l in tl if l == l], 4 * budget_ms, False),
        ]
        for k, (title, pts, top, step) in enumerate(panels):
            py = y0 + 20 + k * h
            out.append(f'<rect x="{pad}" y="{py}" width="{w - 2 * pad}" height="{h - 30}" fill="none" stroke="#999"/>')
            out.append(f'<text x="{pad + 4}" y="{py + 12}">{title}</text>')
            out.append(f'<text x="{pad - 4}" y="{py + 8}" text-anchor="end">{top:g}</text>')
            yy = lambda v: py + (h - 30) * (1 - v / top)
            if k == 2:
                out.append(f'<line x1="{pad}" x2="{w - pad}" y1="{yy(budget_ms)}" y2="{yy(budget_ms)}" stroke="red" stroke-dasharray="4"/>')
            d = []
            for j, (t, v) in enumerate(pts):
                if step and j > 0:
                    d.append(f"L{x(t):.1f},{yy(pts[j - 1][1]):.1f}")
                d.append(("M" if j == 0 else "L") + f"{x(t):.1f},{yy(v):.1f}")
            out.append(f'<path d="{" ".join(d)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
        for a, _, _ in phases[1:]:
            out.append(f'<line x1="{x(a)}" x2="{x(a)}" y1="{y0 + 20}" y2="{y0 + 20 + 3 * h - 30}" stroke="#ccc"/>')
        y0 += 3 * h + 30
    out.append("</svg>")
    open(path, "w").write("\n".join(out))


def run(a):
    os.makedirs(a.out, exist_ok=True)
    phases = phases_of(a.phases)
    trace = os.path.join(a.out, "trace.txt")
    with open(trace, "w") as f:
        f.write("# seconds mbps (written by link_experiment.py)\n")
        for s, _, r in phases:
            f.write(f"{s:g} {r:g}\n")
        f.write(f"{phases[-1][1]:g} {phases[-1][2]:g}\n")
    _, lab = idx(a.labels)
    n = int(phases[-1][1] * a.rate)
    results, timelines = {}, {}
    for mode in a.modes.split(","):
        extra = MODES[mode] + [
            "--set", f"policy.latency_budget_ms={a.budget_ms}",
            "--set", f"cloud.payload={a.payload}",
        ] + json.loads(a.extra)
        if mode == "energy":
            extra += ["--set", f"policy.energy_budget_mj={a.energy_mj}"]
        out = os.path.join(a.out, mode + ".json")
        start_file = os.path.join(a.out, mode + ".start")
        feed_cmd = " ".join([
            sys.executable, os.path.abspath(__file__), "feed", "--meanet", a.meanet, "--bundle", a.bundle,
            "--images", a.images, "--rate", str(a.rate), "--samples", str(n), "--out", out,
            "--extra", "'" + json.dumps(extra) + "'",
        ])
        lab_cmd = [LAB, "--emu", a.emu, "--rtt-ms", str(0 if mode == "unshaped" else a.rtt_ms),
                   "--start-file", start_file, "--timeout", str(int(phases[-1][1]) + 120),
                   "--cloud", f"{a.meanet} serve {a.bundle} --http {CLOUD} > {out}.serve.log 2>&1",
                   "--edge", feed_cmd]
        if mode == "unshaped":
            lab_cmd += ["--emu-args", "--up-mbps 10000 --down-mbps 10000"]
        else:
            lab_cmd += ["--trace", trace]
        print(f"link_experiment: {mode} ...", file=sys.stderr, flush=True)
        subprocess.run(lab_cmd, check=True)
        start = float(open(start_file).read())
        rows, tl, lost, code = analyse(out, start, phases, lab, a.budget_ms)
        r = json.load(open(out))["outcomes"]
        total_mj = 1e3 * sum(o["edge_energy_j"] for o in r) / max(1, len(r))
        results[mode] = {"rows": rows, "lost": lost, "exit": code, "energy_mj": total_mj}
        timelines[mode] = tl
    json.dump(results, open(os.path.join(a.out, "results.json"), "w"), indent=1)
    svg(timelines, phases, a.budget_ms, os.path.join(a.out, "timeline.svg"))
    md = [f"Trace {a.phases} (duration:Mbit/s), RTT {a.rtt_ms:g} ms, {a.rate:g} samples/s, payload {a.payload}, budget {a.budget_ms:g} ms.", ""]
    md.append("| mode | phase | samples | p50 ms | p95 ms | p99 ms | within budget | accuracy | offload share | cloud answers/s | edge mJ/sample | bytes sent | degraded | withheld | lost |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        for row in r["rows"]:
            md.append(f"| {mode} | {row['phase']} | {row['samples']} | {row['p50']:.0f} | {row['p95']:.0f} | {row['p99']:.0f} | {100 * row['within']:.1f}% | {100 * row['accuracy']:.2f}% | {row['offload']:.3f} | {row['cloud_per_s']:.1f} | {row['energy_mj']:.3f} | {row['bytes']:,} | {row['degraded']} | {row['withheld']} | {row['lost']} |")
    md.append("")
    for mode, r in results.items():
        md.append(f"- {mode}: edge energy over the whole run {r['energy_mj']:.3f} mJ a sample, {r['lost']} lost, exit {r['exit']}")
    open(os.path.join(a.out, "report.md"), "w").write("\n".join(md) + "\n")
    print("\n".join(md))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("feed")
    for k in ("--meanet", "--bundle", "--images", "--out", "--extra"):
        f.add_argument(k, required=True)
    f.add_argument("--rate", type=float, required=True)
    f.add_argument("--samples", type=int, required=True)
    r = sub.add_parser("run")
    for k in ("--meanet", "--emu", "--bundle", "--images", "--labels", "--out"):
        r.add_argument(k, required=True)
    r.add_argument("--modes", default="unshaped,static,online,aware")
    r.add_argument("--phases", default="30:20,30:1,10:0,30:20")
    r.add_argument("--rate", type=float, default=100)
    r.add_argument("--budget-ms", type=float, default=150)
    r.add_argument("--rtt-ms", type=float, default=40)
    r.add_argument("--payload", default="f32")
    r.add_argument("--extra", default="[]")
    r.add_argument("--energy-mj", type=float, default=2.0, help="the energy mode's budget, mJ per sample")
    a = p.parse_args()
    if a.cmd == "feed":
        feed(a)
    else:
        run(a)


if __name__ == "__main__":
    main()
