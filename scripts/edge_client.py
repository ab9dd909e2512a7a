#!/usr/bin/env python3
"""A real peer client against `meanet edge`: tritonclient (JSON and binary outputs), then a load
test of concurrent clients with optional cloud kill.

Usage:
  edge_client.py check URL IDX_IMAGES_GZ            # tritonclient, JSON + binary, 64 images
  edge_client.py load URL IDX_IMAGES_GZ CLIENTS SECONDS [KILL_AFTER_S PID]
Prints a JSON summary on stdout; exits non-zero when a check fails.
"""
import gzip
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import tritonclient.http as httpclient


def images(path, n):
    with gzip.open(path, "rb") as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    px = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, 1, rows, cols)
    return px[:n]


def infer(client, x, binary, model="meanet"):
    inp = httpclient.InferInput("input", list(x.shape), "UINT8")
    inp.set_data_from_numpy(x, binary_data=binary)
    outs = [httpclient.InferRequestedOutput(n, binary_data=binary)
            for n in ("class", "exit", "degraded", "energy_j", "bytes_sent")]
    return client.infer(model, [inp], outputs=outs)


def check(url, path):
    host = url.split("://", 1)[-1]
    client = httpclient.InferenceServerClient(url=host)
    assert client.is_server_live(), "not live"
    meta = client.get_model_metadata("meanet")
    names = [o["name"] for o in meta["outputs"]]
    assert names == ["class", "exit", "degraded", "energy_j", "bytes_sent"], names
    x = images(path, 64)
    results = {}
    for binary in (False, True):
        r = infer(client, x, binary)
        cls = r.as_numpy("class")
        ex = r.as_numpy("exit")
        deg = r.as_numpy("degraded")
        en = r.as_numpy("energy_j")
        by = r.as_numpy("bytes_sent")
        assert cls.shape == (64,) and cls.dtype == np.int64, (cls.shape, cls.dtype)
        assert ex.shape == (64,), ex.shape
        assert deg.dtype == np.bool_, deg.dtype
        assert en.dtype == np.float32 and (en > 0).all(), en
        assert by.dtype == np.int64, by.dtype
        exits = [e.decode() if isinstance(e, bytes) else str(e) for e in ex]
        assert set(exits) <= {"main", "extension", "cloud"}, set(exits)
        results["binary" if binary else "json"] = {
            "classes": cls.tolist()[:8],
            "exits": {k: exits.count(k) for k in ("main", "extension", "cloud")},
            "degraded": int(deg.sum()),
            "energy_j_mean": float(en.mean()),
            "bytes_sent_total": int(by.sum()),
        }
    assert results["json"]["classes"] == results["binary"]["classes"], results
    print(json.dumps(results))


def load(url, path, clients, seconds, kill_after=None, pid=None):
    host = url.split("://", 1)[-1]
    pool = images(path, 1000)
    lat, statuses, lock = [], {}, threading.Lock()
    degraded = [0]
    stop = time.time() + seconds

    def worker(k):
        client = httpclient.InferenceServerClient(url=host, connection_timeout=30, network_timeout=30)
        i = k
        while time.time() < stop:
            x = pool[i % len(pool)][None]
            i += clients
            t0 = time.perf_counter()
            try:
                r = infer(client, x, True)
                code = 200
                d = int(r.as_numpy("degraded").sum())
            except Exception as e:  # tritonclient raises InferenceServerException
                code = getattr(e, "status", lambda: None)() or str(e)[:60]
                d = 0
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                statuses[str(code)] = statuses.get(str(code), 0) + 1
                degraded[0] += d

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    start = time.time()
    for t in threads:
        t.start()
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join()
    took = time.time() - start
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1e3
    print(json.dumps({
        "clients": clients, "requests": len(lat), "seconds": round(took, 2),
        "throughput_rps": round(len(lat) / took, 1), "p50_ms": round(p(0.5), 2),
        "p99_ms": round(p(0.99), 2), "statuses": statuses, "degraded": degraded[0],
    }))
    bad = {k: v for k, v in statuses.items() if k != "200"}
    if bad:
        sys.exit(f"non-200 answers: {bad}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        check(sys.argv[2], sys.argv[3])
    elif cmd == "load":
        extra = sys.argv[6:]
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]),
             float(extra[0]) if extra else None, int(extra[1]) if len(extra) > 1 else None)
    else:
        sys.exit(__doc__)
