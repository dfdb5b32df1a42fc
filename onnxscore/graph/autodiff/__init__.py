"""Reverse-mode differentiation as an ONNX graph pass: onnxruntime itself computes the gradients.

append_backward(model, loss, wrt) appends the vector-Jacobian product of every node between `wrt`
and `loss`, one rule per op (the modules below, registered on import), gradients summed where a
tensor has several readers. The rules emit only ops that have rules, so applying the pass to its own
output differentiates again: a Hessian-vector product is two passes (see append_backward)."""
from onnxscore.graph.autodiff import (  # noqa: F401  (importing a family registers its rules)
    activations, conv, elementwise, indexing, matmul, normalization, pooling, reduce, shape, softmax)
from onnxscore.graph.autodiff.backward import append_backward
from onnxscore.graph.autodiff.loss import add_cross_entropy
from onnxscore.graph.autodiff.registry import NO_GRADIENT, RULES, AutodiffError, UnsupportedOpError

__all__ = ["append_backward", "add_cross_entropy", "AutodiffError", "UnsupportedOpError", "RULES", "NO_GRADIENT"]
