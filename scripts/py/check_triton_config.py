"""Parses a meanet-exported Triton config.pbtxt with Triton's own ModelConfig protobuf (from
tritonclient[grpc]) and checks it against the ONNX model beside it (read by onnxruntime).
Usage: check_triton_config.py REPO MODEL_NAME"""
import json
import sys

import onnxruntime as ort
import tritonclient.grpc.model_config_pb2 as mc
from google.protobuf import text_format

repo, name = sys.argv[1], sys.argv[2]
text = open(f"{repo}/{name}/config.pbtxt").read()
# Parse fails on any field ModelConfig does not have, or a value of the wrong type.
config = text_format.Parse(text, mc.ModelConfig())
session = ort.InferenceSession(f"{repo}/{name}/1/model.onnx", providers=["CPUExecutionProvider"])


def per_sample(shape):
    return [d if isinstance(d, int) else -1 for d in shape[1:]]


problems = []
if config.name != name:
    problems.append(f"name {config.name!r} != {name!r}")
if config.platform != "onnxruntime_onnx":
    problems.append(f"platform {config.platform!r}")
if config.max_batch_size < 1:
    problems.append("max_batch_size < 1")
if not config.HasField("dynamic_batching"):
    problems.append("no dynamic_batching")
if not config.instance_group or config.instance_group[0].kind != mc.ModelInstanceGroup.KIND_CPU:
    problems.append("no CPU instance group")
for kind, declared, actual in [("input", config.input, session.get_inputs()),
                               ("output", config.output, session.get_outputs())]:
    if len(declared) != len(actual):
        problems.append(f"{len(declared)} {kind}s declared, the model has {len(actual)}")
        continue
    for d, a in zip(declared, actual):
        if d.name != a.name:
            problems.append(f"{kind} {d.name!r} is {a.name!r} in the model")
        if d.data_type != mc.TYPE_FP32 or a.type != "tensor(float)":
            problems.append(f"{kind} {d.name!r}: types {d.data_type} / {a.type}")
        if list(d.dims) != per_sample(a.shape):
            problems.append(f"{kind} {d.name!r}: dims {list(d.dims)} != model {a.shape}")
print(json.dumps({
    "check": "triton config.pbtxt",
    "parsed_with": "tritonclient.grpc.model_config_pb2.ModelConfig",
    "platform": config.platform,
    "max_batch_size": config.max_batch_size,
    "inputs": [[i.name, list(i.dims)] for i in config.input],
    "outputs": [[o.name, list(o.dims)] for o in config.output],
    "max_queue_delay_microseconds": config.dynamic_batching.max_queue_delay_microseconds,
    "problems": problems,
}))
sys.exit(1 if problems else 0)
