"""Writes a class folder (`DIR/<class>/*.jpg|png`) as IDX files, for the link laboratory's
paced stream (`link_experiment.py run --images ... --labels ...`) at any image size: each image
resized so its shorter side is SIZE, centre-cropped to SIZExSIZE (as `--resize crop` does for
evaluation), as 8-bit CHW (`N x 3 x SIZE x SIZE`); labels are the class folders' indices in
sorted order (the order `meanet train --dataset folder` gives them).

  folder_idx.py DIR SIZE OUT_IMAGES OUT_LABELS [--limit N]

Needs Pillow. Images are interleaved across classes (one of each class in turn), so a short
stream still sees every class.
"""

import argparse
import os
import struct
import sys

from PIL import Image


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("size", type=int)
    p.add_argument("images")
    p.add_argument("labels")
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    classes = sorted(d for d in os.listdir(a.dir) if os.path.isdir(os.path.join(a.dir, d)))
    if not classes or len(classes) > 255:
        sys.exit(f"{a.dir}: {len(classes)} class folders (1 to 255 fit an IDX label byte)")
    files = [sorted(os.listdir(os.path.join(a.dir, c))) for c in classes]
    order = []
    for k in range(max(len(f) for f in files)):
        order += [(ci, f[k]) for ci, f in enumerate(files) if k < len(f)]
    if a.limit:
        order = order[: a.limit]
    s = a.size
    with open(a.images, "wb") as im, open(a.labels, "wb") as lb:
        im.write(struct.pack(">BBBB", 0, 0, 8, 4) + struct.pack(">IIII", len(order), 3, s, s))
        lb.write(struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", len(order)))
        for ci, name in order:
            img = Image.open(os.path.join(a.dir, classes[ci], name)).convert("RGB")
            w, h = img.size
            k = s / min(w, h)
            img = img.resize((max(s, round(w * k)), max(s, round(h * k))), Image.BILINEAR)
            w, h = img.size
            img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            for band in img.split():
                im.write(band.tobytes())
            lb.write(bytes([ci]))
    print(f"{len(order)} images of {len(classes)} classes, {s}x{s}, to {a.images}")


if __name__ == "__main__":
    main()
