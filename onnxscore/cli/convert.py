"""`onnxscore convert SRC -o out.onnx`: write a framework model as ONNX, activation sites and BN kept."""
from __future__ import annotations

import os
import tempfile
import warnings

import click

FROM_CHOICES = ["tensorflow", "keras", "paddle", "torch"]
BN_TEXT = {
    "exported": "BatchNormalization nodes kept (scored with batch statistics)",
    "batch": "BatchNorm computes batch statistics in the graph (Keras training=True)",
    "folded": "BatchNorm folded with running statistics",
}


def _write(model, output: str) -> None:
    """Write atomically: a half-written file never replaces an existing one."""
    import onnx

    folder = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(prefix=".onnxscore-", suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def summary(model) -> str:
    """'12 activation sites (10 Relu, 2 Clip); 3 BatchNormalization nodes kept ...' for a model."""
    from onnxscore.converters import META_BN, META_CONVERTER, META_SOURCE
    from onnxscore.graph.sites import find_sites
    from onnxscore.graph.view import GraphView

    meta = {p.key: p.value for p in model.metadata_props}
    sites = find_sites(GraphView(model))
    by_op: dict[str, int] = {}
    for s in sites:
        by_op[s.op_type] = by_op.get(s.op_type, 0) + 1
    ops = ", ".join(f"{n} {op}" for op, n in by_op.items())
    n_bn = sum(n.op_type == "BatchNormalization" for n in model.graph.node)
    bn = meta.get(META_BN, "exported")
    bn_text = f"{n_bn} {BN_TEXT['exported']}" if bn == "exported" and n_bn else BN_TEXT.get(bn, bn)
    if bn == "exported" and not n_bn:
        bn_text = "no BatchNorm"
    return (f"{meta.get(META_SOURCE, '?')} via {meta.get(META_CONVERTER, '?')}: "
            f"{len(sites)} activation sites ({ops or 'none'}); {bn_text}")


@click.command("convert")
@click.argument("src")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The .onnx file to write.")
@click.option("--from", "fmt", type=click.Choice(FROM_CHOICES), default=None,
              help="Source format when the path does not tell.")
@click.option("--input-shape", default=None,
              help="One sample's shape, e.g. 3,32,32 (PyTorch factories; models without a fixed input).")
@click.option("--opset", type=int, default=17, show_default=True,
              help="ONNX opset to ask the converter for (torch.onnx uses at least 18).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def command(src, output, fmt, input_shape, opset, force):
    """Convert SRC (.keras/.h5, SavedModel dir, Paddle inference model, package.module:factory)
    to ONNX with every activation site and BatchNorm kept for scoring."""
    from onnxscore.converters import convert, converter_warnings
    from onnxscore.converters._extras import ConverterWarning
    from onnxscore.errors import InputError

    if os.path.exists(output) and not force:
        raise InputError(f"'{output}' already exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise InputError(f"the folder of '{output}' does not exist; create it first")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConverterWarning)  # printed once below
        model = convert(src, fmt=fmt, input_shape=input_shape, opset=opset)
    _write(model, output)
    for w in converter_warnings(model):
        click.echo(f"onnxscore: warning: {w}", err=True)
    click.echo(f"wrote {output}: {summary(model)}")
