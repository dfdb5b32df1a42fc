"""The gradient proxies of docs/GRADIENTS.md (HNAS family), computed with onnxscore's ONNX reverse-mode
pass on onnxruntime: one plan per model builds the fewest graphs and runs for the requested proxies."""
from onnxscore.proxies.gradient.plan import GradientPlan, GradientScore, gradient_scores
from onnxscore.proxies.gradient.registry import GradientProxy, get, names

__all__ = ["gradient_scores", "GradientPlan", "GradientScore", "GradientProxy", "get", "names"]
