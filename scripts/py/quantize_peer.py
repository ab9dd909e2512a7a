"""Side by side: meanet's int8 quantizer against ONNX Runtime's own (quantize_static, QDQ,
per-channel s8 weights, the same activation type, calibration samples and method).

For each method it runs `meanet quantize` (keeping the int8 graphs of blocks that stay f32, and
writing the calibration inputs), quantizes the same f32 blocks with onnxruntime on those very
inputs, then
- measures test accuracy with `meanet eval` on bundle copies whose block is swapped for each
  graph (main_only for the main block, cloud_only for the cloud), with bootstrap intervals;
- times every graph in one ONNX Runtime process at batch 1 and 64 (best of 5 passes).
Usage: quantize_peer.py MEANET BUNDLE WORKDIR [--cloud] [--methods minmax,percentile,entropy]
       [-- extra meanet data flags, e.g. --dataset folder --data DIR]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

METHODS = {
    "minmax": (CalibrationMethod.MinMax, {}),
    # meanet's Percentile is ONNX Runtime's with a symmetric threshold, clamped to the extent.
    "percentile": (CalibrationMethod.Percentile, {"CalibPercentile": 99.99, "CalibTensorRangeSymmetric": True}),
    # meanet's Entropy searches 2,048 bins for a 128-level quantization.
    "entropy": (CalibrationMethod.Entropy, {"CalibNumBins": 2048, "CalibNumQuantizedBins": 128}),
}


class Reader(CalibrationDataReader):
    def __init__(self, feeds, batch=64):
        n = next(iter(feeds.values())).shape[0]
        self.batches = [{k: v[i : i + batch] for k, v in feeds.items()} for i in range(0, n, batch)]
        self.it = iter(self.batches)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.batches)


def feeds_of(calib, block, model):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out = {}
    for i in sess.get_inputs():
        safe = re.sub(r"[^A-Za-z0-9_]", "_", i.name)
        out[i.name] = np.load(os.path.join(calib, f"{block}.{safe}.npy"))
    return out


def rate(model, feeds, batch, passes=5):
    so = ort.SessionOptions()
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    n = next(iter(feeds.values())).shape[0]
    batches = [{k: v[i : i + batch] for k, v in feeds.items()} for i in range(0, n - batch + 1, batch)]
    batches = batches[: max(1, 256 // batch)]
    for b in batches[:2]:
        sess.run(None, b)
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for b in batches:
            sess.run(None, b)
        best = min(best, time.perf_counter() - t0)
    return len(batches) * batch / best


def swapped(bundle, work, name, key, model):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(bundle, d, ignore=shutil.ignore_patterns("*.int8.onnx", "calib"))
    shutil.copy(model, os.path.join(d, os.path.basename(model)))
    path = os.path.join(d, "meanet.toml")
    text = open(path).read()
    text = re.sub(rf'(?m)^{key} = ".*"$', f'{key} = "{os.path.basename(model)}"', text, count=1)
    # A swapped block keeps no [quantization] record of the other quantizer's choices.
    text = re.sub(r"(?ms)^\[quantization\].*?(?=^\[(?!\[?quantization)|\Z)", "", text)
    text = re.sub(r"(?ms)^\[\[quantization\.blocks\]\].*?(?=^\[(?!\[?quantization)|\Z)", "", text)
    open(path, "w").write(text)
    return d


def accuracy(meanet, bundle, row, extra):
    out = bundle + "-eval"
    subprocess.run([meanet, "--quiet", "eval", bundle, "--out", out, *extra], check=True, stdout=subprocess.DEVNULL)
    r = json.load(open(os.path.join(out, "report.json")))
    m = next(m for m in r["methods"] if m["name"] == row)
    return m["accuracy"], m["accuracy_ci"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("meanet")
    p.add_argument("bundle")
    p.add_argument("work")
    p.add_argument("--cloud", action="store_true")
    p.add_argument("--methods", default="minmax,percentile,entropy")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    a.extra = extra
    os.makedirs(a.work, exist_ok=True)
    blocks = [("main", "main", "main_only")] + ([("cloud", "cloud", "cloud_only")] if a.cloud else [])
    f32_files = {"main": os.path.join(a.bundle, "main.onnx"), "cloud": os.path.join(a.bundle, "cloud.onnx")}
    rows = []
    f32_acc = {}
    for block, key, row in blocks:
        f32_acc[block] = accuracy(a.meanet, swapped(a.bundle, a.work, f"f32-{block}", key, f32_files[block]), row, a.extra)
    for method in a.methods.split(","):
        ours_dir = os.path.join(a.work, f"ours-{method}")
        calib = os.path.join(a.work, f"calib-{method}")
        cmd = [a.meanet, "--quiet", "quantize", a.bundle, "--out", ours_dir, "--force", "--keep-slower",
               "--method", method, "--write-calibration", calib, *a.extra]
        if a.cloud:
            cmd.append("--cloud")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        cal_method, extra_options = METHODS[method]
        for block, key, row in blocks:
            f32 = f32_files[block]
            ours = os.path.join(ours_dir, f"{block}.int8.onnx")
            peer = os.path.join(a.work, f"peer-{method}-{block}.int8.onnx")
            feeds = feeds_of(calib, "main" if block == "cloud" else block, f32)
            quantize_static(
                f32, peer, Reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=cal_method, extra_options=extra_options,
            )
            acc_ours = accuracy(a.meanet, swapped(a.bundle, a.work, f"ours-{method}-{block}", key, ours), row, a.extra)
            acc_peer = accuracy(a.meanet, swapped(a.bundle, a.work, f"peer-{method}-{block}", key, peer), row, a.extra)
            speed = {}
            for batch in (1, 64):
                speed[batch] = [rate(m, feeds, batch) for m in (f32, ours, peer)]
            rows.append((block, method, f32_acc[block], acc_ours, acc_peer, speed))
    print("| block | method | f32 accuracy | meanet int8 | onnxruntime int8 | meanet - onnxruntime | batch 1: f32/s, meanet x, onnxruntime x | batch 64: f32/s, meanet x, onnxruntime x |")
    print("|---|---|---|---|---|---|---|---|")
    pct = lambda acc: f"{100 * acc[0]:.2f}% [{100 * acc[1][0]:.2f}, {100 * acc[1][1]:.2f}]"
    for block, method, f, o, q, s in rows:
        sp = lambda b: f"{s[b][0]:,.0f}, {s[b][1] / s[b][0]:.2f}x, {s[b][2] / s[b][0]:.2f}x"
        print(f"| {block} | {method} | {pct(f)} | {pct(o)} | {pct(q)} | {100 * (o[0] - q[0]):+.2f} pp | {sp(1)} | {sp(64)} |")


if __name__ == "__main__":
    sys.exit(main())
