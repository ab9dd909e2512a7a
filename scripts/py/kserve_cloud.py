"""A real KServe ModelServer (the `kserve` package) serving a meanet bundle's cloud model over
the Open Inference Protocol v2, through a small onnxruntime model class. FP32 inputs go to the
model as sent; UINT8 pixels are normalised first, per channel, with the bundle's mean and std,
in the same float32 arithmetic as `meanet serve` ((p * (1 / (255 s))) + (-m / s)).
It listens on 127.0.0.1 only: KServe's REST server binds 0.0.0.0 with no setting to change it
(kserve/protocol/rest/server.py builds its uvicorn.Config with host="0.0.0.0"), so the one
configuration class it builds is replaced by one that keeps loopback. Checks listen on loopback.
Usage: kserve_cloud.py BUNDLE_DIR HTTP_PORT"""
import sys
import tomllib

import numpy as np
import onnxruntime as ort
import uvicorn
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
import kserve.protocol.rest.server as kserve_rest

LOOPBACK = "127.0.0.1"


class LoopbackConfig(uvicorn.Config):
    """uvicorn's configuration with the host forced to loopback, whatever KServe asks for."""

    def __init__(self, *args, **kwargs):
        kwargs["host"] = LOOPBACK
        super().__init__(*args, **kwargs)


class Cloud(Model):
    def __init__(self, bundle: str):
        manifest = tomllib.load(open(f"{bundle}/meanet.toml", "rb"))
        super().__init__("cloud")
        self.session = ort.InferenceSession(
            f"{bundle}/{manifest['models']['cloud']}", providers=["CPUExecutionProvider"])
        tensors = manifest.get("tensors", {})
        self.input_name = tensors.get("input", "input")
        self.output_name = tensors.get("cloud_logits", "logits")
        mean = np.asarray(manifest["input"]["mean"], dtype=np.float32)
        std = np.asarray(manifest["input"]["std"], dtype=np.float32)
        self.scale = (np.float32(1.0) / (np.float32(255.0) * std)).astype(np.float32)
        self.shift = (-mean / std).astype(np.float32)
        self.ready = True

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        if x.dtype == np.uint8:
            c = x.shape[1]
            x = x.astype(np.float32) * self.scale.reshape(1, c, 1, 1) + self.shift.reshape(1, c, 1, 1)
        logits = self.session.run(None, {self.input_name: x.astype(np.float32)})[0]
        out = InferOutput(name=self.output_name, shape=list(logits.shape), datatype="FP32")
        out.set_data_from_numpy(logits.astype(np.float32), binary_data=False)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[out])


if __name__ == "__main__":
    bundle, port = sys.argv[1], int(sys.argv[2])
    # KServe's REST server reads `uvicorn.Config` when it starts; this process is ours alone.
    kserve_rest.uvicorn.Config = LoopbackConfig
    ModelServer(http_port=port, grpc_port=port + 1, enable_grpc=False, workers=1).start([Cloud(bundle)])
