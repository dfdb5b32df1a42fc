"""Gradients of MatMul (numpy semantics: batched, broadcast, 1-D operands) and Gemm."""
from __future__ import annotations

from onnxscore.graph.autodiff.registry import vjp
from onnxscore.graph.view import attr


def _swap_last(em, t, rank):
    return em.op("Transpose", [t], perm=list(range(rank - 2)) + [rank - 1, rank - 2])


@vjp("MatMul")
def matmul(em, node, grads):
    g, (a, b), y = grads[0], node.input, node.output[0]
    ra, rb = em.rank(a), em.rank(b)
    da = db = None
    if ra == 1 and rb == 1:  # a dot product: y is a scalar
        return [em.op("Mul", [g, b]) if em.needs(a) else None, em.op("Mul", [g, a]) if em.needs(b) else None]
    if rb == 1:  # y[..., i] = sum_k a[..., i, k] b[k]
        gk = em.op("Unsqueeze", [g, em.ints([-1])])
        if em.needs(a):
            da = em.op("Mul", [gk, b])
        if em.needs(b):
            db = em.unbroadcast(em.op("Mul", [gk, a]), b, a)
        return [da, db]
    if ra == 1:  # y[..., j] = sum_k a[k] b[..., k, j]
        if em.needs(a):
            col = em.op("Squeeze", [em.op("MatMul", [b, em.op("Unsqueeze", [g, em.ints([-1])])]), em.ints([-1])])
            da = col if rb == 2 else em.op("ReduceSum", [col, em.ints(list(range(rb - 2)))], keepdims=0)
        if em.needs(b):
            db = em.op("Mul", [em.op("Unsqueeze", [a, em.ints([-1])]), em.op("Unsqueeze", [g, em.ints([-2])])])
        return [da, db]
    em.rank(y)  # raises when unknown
    batch = em.dims(y)[:-2]  # the broadcast batch axes, which da and db carry before being summed
    if em.needs(a):
        da = em.op("MatMul", [g, _swap_last(em, b, rb)])
        da = em.unbroadcast(da, a, batch + em.dims(a)[-2:])
    if em.needs(b):
        db = em.op("MatMul", [_swap_last(em, a, ra), g])
        db = em.unbroadcast(db, b, batch + em.dims(b)[-2:])
    return [da, db]


@vjp("Gemm")
def gemm(em, node, grads):
    # Y = alpha op(A) op(B) + beta C
    g, y = grads[0], node.output[0]
    a, b = node.input[0], node.input[1]
    c = node.input[2] if len(node.input) > 2 else ""
    alpha, beta = attr(node, "alpha", 1.0), attr(node, "beta", 1.0)
    ta, tb = attr(node, "transA", 0), attr(node, "transB", 0)
    da = db = dc = None
    if em.needs(a):  # d op(A) = alpha g op(B)^T
        da = (em.op("Gemm", [g, b], alpha=alpha, transB=1 - tb) if not ta
              else em.op("Gemm", [b, g], alpha=alpha, transA=tb, transB=1))
    if em.needs(b):  # d op(B) = alpha op(A)^T g
        db = (em.op("Gemm", [a, g], alpha=alpha, transA=1 - ta) if not tb
              else em.op("Gemm", [g, a], alpha=alpha, transA=1, transB=ta))
    if em.needs(c):
        scaled = g if beta == 1.0 else em.op("Mul", [g, em.scalar(beta, y)])
        dc = em.unbroadcast(scaled, c, y)
    return [da, db, dc]
