"""Posts the first N images of an IDX file to `meanet edge` (v2, UINT8, JSON) in batches and
prints the class and exit of every sample as JSON lines. Usage: edge_classes.py URL IDX N"""
import json
import sys
import urllib.request

url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(path, "rb").read()
pixels = raw[16:16 + n * 784]
for start in range(0, n, 100):
    batch = pixels[start * 784:(start + 100) * 784]
    k = len(batch) // 784
    body = json.dumps({"inputs": [{"name": "input", "shape": [k, 1, 28, 28], "datatype": "UINT8",
                                   "data": list(batch)}]}).encode()
    req = urllib.request.Request(f"{url}/v2/models/meanet/infer", data=body,
                                 headers={"content-type": "application/json"})
    out = {o["name"]: o["data"] for o in json.load(urllib.request.urlopen(req))["outputs"]}
    for i in range(k):
        print(json.dumps({"index": start + i, "class": out["class"][i], "exit": out["exit"][i],
                          "degraded": out["degraded"][i]}))
