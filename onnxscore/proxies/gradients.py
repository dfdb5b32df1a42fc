"""The gradient proxies of onnxscore.proxies.gradient in the main registry: they need "gradients", so
the scorer computes every requested one from one GradientPlan (not from activation codes)."""
from onnxscore.proxies.gradient import registry as _gradient
from onnxscore.proxies.registry import register


def _planned(data, ctx):
    raise RuntimeError("a gradient proxy is computed by the scorer's gradient plan, not called")


for _name in _gradient.names():
    _spec = _gradient.get(_name)
    register(_name, _spec.description, needs=("gradients",), higher_is_better=_spec.higher_is_better)(_planned)
