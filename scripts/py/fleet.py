"""A fleet of edge devices against one cloud replica, measured on this machine.

1. One saturating client: T threads, each on its own keep-alive connection, post single UINT8
   images to `meanet serve` as fast as it answers, for S seconds: the replica's capacity.
2. The fleet: D concurrent `meanet run --input -` processes (one per device, u8 payload), each
   fed R images/s from the Fashion-MNIST test split for S seconds, all offloading to the same
   `meanet serve`. Every sample must be answered exactly once (one outcome per index, in
   order); per device: the p99 of the offload round trip (`cloud_ms`); for the cloud: its batch
   fill and throughput, from its /metrics.

Usage: fleet.py MEANET_BINARY IMAGES_GZ [--devices 8] [--rate 100] [--seconds 10]
       [--threads 16]   Prints JSON."""
import argparse
import gzip
import http.client
import json
import re
import subprocess
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("bin")
ap.add_argument("images")
ap.add_argument("--devices", type=int, default=8)
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--seconds", type=float, default=10.0)
ap.add_argument("--threads", type=int, default=16)
ap.add_argument("--bundle", default="models/fashion-mnist",
                help="the bundle whose cloud model `meanet serve` serves (an int8 one from `meanet quantize --cloud`, say)")
ap.add_argument("--saturate-only", action="store_true",
                help="measure the replica's capacity (the saturating client) and stop")
a = ap.parse_args()
raw = gzip.open(a.images).read()[16:]
SAMPLE = 784
N = len(raw) // SAMPLE


def start_serve():
    p = subprocess.Popen([a.bin, "serve", a.bundle, "--http", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    addr = re.search(r"http://([^/ ]+)/", line).group(1)
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    return p, addr


def metrics(addr):
    c = http.client.HTTPConnection(addr)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    get = lambda name: float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
    return get("meanet_batch_size_sum"), get("meanet_batch_size_count")


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else None


def saturate(addr):
    body = lambda i: json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28],
                                             "datatype": "UINT8",
                                             "data": list(raw[(i % N) * SAMPLE:(i % N + 1) * SAMPLE])}]})
    bodies = [body(i).encode() for i in range(64)]
    done, lat, stop = [0] * a.threads, [[] for _ in range(a.threads)], time.time() + a.seconds

    def worker(k):
        c = http.client.HTTPConnection(addr)
        i = k
        while time.time() < stop:
            t0 = time.perf_counter()
            c.request("POST", "/v2/models/cloud/infer", bodies[i % 64],
                      {"content-type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
            lat[k].append((time.perf_counter() - t0) * 1e3)
            done[k] += 1
            i += a.threads

    before = metrics(addr)
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(a.threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    took = time.time() - t0
    after = metrics(addr)
    all_lat = [x for l in lat for x in l]
    return {"threads": a.threads, "samples_per_s": round(sum(done) / took, 1),
            "p50_ms": round(percentile(all_lat, 0.5), 2), "p99_ms": round(percentile(all_lat, 0.99), 2),
            "mean_batch": round((after[0] - before[0]) / max(1, after[1] - before[1]), 2)}


def device(addr, k, out):
    p = subprocess.Popen([a.bin, "--quiet", "run", a.bundle, "--input", "-", "--json",
                          "--max-wait-ms", "20", "--set", "policy.batch_size=16",
                          "--set", f"cloud.url=http://{addr}", "--set", "cloud.payload=u8"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = [0]

    def feed():
        per_tick, tick = max(1, int(a.rate / 20)), 0.05  # 20 writes a second
        stop, i = time.time() + a.seconds, (k * 997) % N
        while time.time() < stop:
            chunk = b"".join(raw[((i + j) % N) * SAMPLE:((i + j) % N + 1) * SAMPLE] for j in range(per_tick))
            p.stdin.write(chunk)
            p.stdin.flush()
            i += per_tick
            sent[0] += per_tick
            time.sleep(tick)
        p.stdin.close()

    f = threading.Thread(target=feed)
    f.start()
    lines = [json.loads(l) for l in p.stdout]
    f.join()
    rc = p.wait()
    cloud = [l["cloud_ms"] for l in lines if "cloud_ms" in l]
    out[k] = {"sent": sent[0], "answered": len(lines), "exit": rc,
              "in_order_once": [l["index"] for l in lines] == list(range(sent[0])),
              "offloaded": len(cloud), "degraded": sum(1 for l in lines if l["degraded"]),
              "offload_p50_ms": round(percentile(cloud, 0.5), 2) if cloud else None,
              "offload_p99_ms": round(percentile(cloud, 0.99), 2) if cloud else None}


serve, addr = start_serve()
try:
    sat = saturate(addr)
    if a.saturate_only:
        print(json.dumps({"bundle": a.bundle, "saturating_client": sat}))
        sys.exit(0)
    before = metrics(addr)
    t0 = time.time()
    results = [None] * a.devices
    ts = [threading.Thread(target=device, args=(addr, k, results)) for k in range(a.devices)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    took = time.time() - t0
    after = metrics(addr)
    offloaded = sum(r["offloaded"] for r in results)
    ok = all(r["exit"] == 0 and r["in_order_once"] and r["sent"] == r["answered"] for r in results)
    print(json.dumps({
        "saturating_client": sat,
        "fleet": {"devices": a.devices, "rate_per_device": a.rate, "seconds": a.seconds,
                  "samples": sum(r["answered"] for r in results), "offloaded": offloaded,
                  "cloud_samples_per_s": round((after[0] - before[0]) / took, 1),
                  "cloud_mean_batch": round((after[0] - before[0]) / max(1, after[1] - before[1]), 2),
                  "every_sample_answered_once": ok, "per_device": results},
    }, indent=1))
    sys.exit(0 if ok else 1)
finally:
    serve.terminate()
    serve.wait()
