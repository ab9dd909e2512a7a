#!/usr/bin/env python3
"""Helpers of scripts/footprint: raw 8-bit samples from image files, and a client that posts
them to `meanet edge` (tritonclient, binary UINT8) and prints the classes it answers.

Usage:
  footprint_client.py pixels IMAGE_DIR N SIDE OUT     # N images under IMAGE_DIR -> OUT (N*3*SIDE*SIDE bytes)
  footprint_client.py classes URL RAW SIDE BATCH      # post RAW in requests of BATCH samples
"""
import json
import os
import sys

import numpy as np


def pixels(image_dir, n, side, out):
    from PIL import Image
    files = []
    for root, _, names in os.walk(image_dir):
        files += [os.path.join(root, f) for f in names if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    files.sort()
    if len(files) < n:
        sys.exit(f"only {len(files)} images under {image_dir}, {n} wanted")
    with open(out, "wb") as f:
        for path in files[:n]:
            im = Image.open(path).convert("RGB")
            w, h = im.size
            s = side / min(w, h)
            im = im.resize((max(side, round(w * s)), max(side, round(h * s))), Image.BILINEAR)
            w, h = im.size
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            f.write(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).tobytes())


def classes(url, raw, side, batch):
    import tritonclient.http as httpclient
    x = np.fromfile(raw, dtype=np.uint8).reshape(-1, 3, side, side)
    client = httpclient.InferenceServerClient(url=url.split("://", 1)[-1], network_timeout=120)
    out, exits, degraded = [], {}, 0
    for i in range(0, len(x), batch):
        part = x[i:i + batch]
        inp = httpclient.InferInput("input", list(part.shape), "UINT8")
        inp.set_data_from_numpy(part, binary_data=True)
        want = [httpclient.InferRequestedOutput(k, binary_data=True) for k in ("class", "exit", "degraded")]
        r = client.infer("meanet", [inp], outputs=want)
        out += r.as_numpy("class").tolist()
        for e in r.as_numpy("exit"):
            e = e.decode() if isinstance(e, bytes) else str(e)
            exits[e] = exits.get(e, 0) + 1
        degraded += int(r.as_numpy("degraded").sum())
    print(json.dumps({"classes": out, "exits": exits, "degraded": degraded}))


if __name__ == "__main__":
    cmd = sys.argv[1:2]
    if cmd == ["pixels"]:
        pixels(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == ["classes"]:
        classes(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
