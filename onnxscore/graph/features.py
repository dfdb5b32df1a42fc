"""Feature taps: the tensors a model declares as its block outputs, in forward order.

Proxies that read a network stage by stage (AZ-NAS's expressivity, progressivity and trainability) need
to know where one block ends and the next begins, which an ONNX graph does not say. A builder (or a user)
declares them in the model's metadata under FEATURES_KEY as a comma-separated list of tensor names; a
name may repeat when a block passes its input through unchanged."""
from __future__ import annotations

import onnx

FEATURES_KEY = "onnxscore.features"


def declared_features(model: onnx.ModelProto) -> list[str] | None:
    """The declared feature tensors, or None when the model declares none."""
    for prop in model.metadata_props:
        if prop.key == FEATURES_KEY:
            names = [n.strip() for n in prop.value.split(",") if n.strip()]
            return names or None
    return None


def declare_features(model: onnx.ModelProto, names: list[str]) -> None:
    """Record `names` as the model's feature taps (replacing any earlier declaration)."""
    keep = [p for p in model.metadata_props if p.key != FEATURES_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = FEATURES_KEY, ",".join(names)
