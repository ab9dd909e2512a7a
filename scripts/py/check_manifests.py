"""Loads meanet-exported Kubernetes manifests into the model classes of the official
`kubernetes` Python client (ConfigMap, Deployment, Service) and of the `kserve` SDK
(InferenceService), strictly: a key the class does not know, or a required field left out, is
an error. Usage: check_manifests.py FILE.yaml..."""
import json
import re
import sys

import kserve
import kubernetes.client as k8s
import yaml

KINDS = {
    ("v1", "ConfigMap"): k8s.V1ConfigMap,
    ("v1", "Service"): k8s.V1Service,
    ("apps/v1", "Deployment"): k8s.V1Deployment,
    ("serving.kserve.io/v1beta1", "InferenceService"): kserve.V1beta1InferenceService,
}


def resolve(type_name):
    for module in (kserve, k8s):
        if hasattr(module, type_name):
            return getattr(module, type_name)
    return None


def strict(value, type_name, path, problems):
    """Every key of `value` must be an attribute of the class `type_name` names, recursively."""
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            strict(item, m.group(1), f"{path}[{i}]", problems)
        return
    m = re.fullmatch(r"dict\((\w+), (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            strict(v, m.group(2), f"{path}.{k}", problems)
        return
    klass = resolve(type_name)
    if klass is None or not hasattr(klass, "attribute_map"):
        return  # a scalar, or a free-form object
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({type_name})")
        return
    by_key = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    for key, v in value.items():
        if key not in by_key:
            problems.append(f"{path}.{key}: not a field of {type_name}")
            continue
        strict(v, klass.openapi_types[by_key[key]], f"{path}.{key}", problems)


def build(value, type_name):
    """Constructs the classes: kubernetes' own `from_dict` (pydantic validation) for its
    classes, the generated constructor (which checks required fields) for kserve's."""
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        return [build(v, m.group(1)) for v in value]
    m = re.fullmatch(r"dict\((\w+), (.+)\)", type_name)
    if m:
        return {k: build(v, m.group(2)) for k, v in value.items()}
    klass = resolve(type_name)
    if klass is None or not hasattr(klass, "attribute_map"):
        return value
    if hasattr(klass, "from_dict"):
        return klass.from_dict(value)
    by_key = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    return klass(**{by_key[k]: build(v, klass.openapi_types[by_key[k]])
                    for k, v in value.items() if k in by_key})


report, problems = [], []
for f in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(f)):
        key = (doc.get("apiVersion"), doc.get("kind"))
        klass = KINDS.get(key)
        if klass is None:
            problems.append(f"{f}: unexpected {key}")
            continue
        strict(doc, klass.__name__, f"{f}:{doc['kind']}", problems)
        # The client's own deserialisation: constructs the classes (required fields checked).
        try:
            obj = build(doc, klass.__name__)
        except Exception as e:  # noqa: BLE001 - any refusal by the classes is the finding
            problems.append(f"{f}:{doc['kind']}: {e}")
            continue
        report.append({"file": f, "kind": doc["kind"], "class": f"{klass.__module__}.{klass.__name__}",
                       "name": obj.metadata.name})
        if doc["kind"] == "Deployment":
            spec = obj.spec.template.spec
            c = spec.containers[0]
            report[-1].update({
                "readiness": c.readiness_probe.http_get.path,
                "liveness": c.liveness_probe.http_get.path,
                "termination_grace_s": spec.termination_grace_period_seconds,
                "token_secret": c.env[0].value_from.secret_key_ref.name,
                "requests": c.resources.requests,
            })
        if doc["kind"] == "InferenceService":
            p = obj.spec.predictor
            report[-1].update({
                "protocol": p.model.protocol_version, "format": p.model.model_format.name,
                "runtime": p.model.runtime, "replicas": [p.min_replicas, p.max_replicas],
                "scale": [p.scale_metric, p.scale_target],
            })
print(json.dumps({"check": "kubernetes and kserve model classes", "objects": report,
                  "problems": problems}, indent=1))
sys.exit(1 if problems else 0)
