"""`onnxscore convert SRC -o out.onnx`: write a framework model as ONNX, activation sites and BN kept."""
from __future__ import annotations

import os
import warnings

import click

FROM_CHOICES = ["tensorflow", "keras", "paddle", "torch"]
BN_TEXT = {
    "exported": "BatchNormalization nodes kept (scored with batch statistics)",
    "batch": "BatchNorm computes batch statistics in the graph (Keras training=True)",
    "folded": "BatchNorm folded with running statistics",
}


def _write(model, output: str, force: bool) -> None:
    """Write atomically: a half-written file never replaces an existing one, a full disk leaves it as
    it was; without `force` a file that appeared during the conversion is not replaced either."""
    from onnxscore.outputs import write_bytes

    write_bytes(output, model.SerializeToString(), force=force)


def _source_files(src: str) -> dict[str, str]:
    """{path: what} of the files a conversion reads: SRC itself, every file under a SRC folder
    (SavedModel, Paddle model), a Paddle model's parameter file, a torch spec's .py file."""
    from onnxscore.converters.detect import paddle_files, torch_spec

    files: dict[str, str] = {}
    what = f"the source model {src}"
    if os.path.isdir(src):
        for root, _, names in os.walk(src):
            files.update({os.path.join(root, n): what for n in names})
    elif os.path.exists(src):
        files[src] = what
    pair = paddle_files(src)
    if pair:
        files.update({f: what for f in pair})
    spec = torch_spec(src)
    if spec and spec[0].endswith(".py"):
        files[spec[0]] = what
    return files


def summary(model) -> str:
    """'12 activation sites (10 Relu, 2 Clip); 3 BatchNormalization nodes kept ...' for a model, with the
    count --activations extended would score when it finds more (GELU, Swish, HardSwish, ... sites)."""
    from onnxscore.converters import META_BN, META_CONVERTER, META_SOURCE
    from onnxscore.graph.sites import count_by_op, find_sites
    from onnxscore.graph.view import GraphView

    meta = {p.key: p.value for p in model.metadata_props}
    view = GraphView(model)
    sites, extended = find_sites(view), find_sites(view, "extended")
    more = (f"; {len(extended)} with --activations extended ({count_by_op(extended)})"
            if len(extended) > len(sites) else "")
    n_bn = sum(n.op_type == "BatchNormalization" for n in model.graph.node)
    bn = meta.get(META_BN, "exported")
    bn_text = f"{n_bn} {BN_TEXT['exported']}" if bn == "exported" and n_bn else BN_TEXT.get(bn, bn)
    if bn == "exported" and not n_bn:
        bn_text = "no BatchNorm"
    origin = " via ".join(meta[k] for k in (META_SOURCE, META_CONVERTER) if meta.get(k))
    return (f"{origin + ': ' if origin else ''}"
            f"{len(sites)} activation sites ({count_by_op(sites) or 'none'}){more}; {bn_text}")


@click.command("convert")
@click.argument("src")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The .onnx file to write.")
@click.option("--from", "fmt", type=click.Choice(FROM_CHOICES), default=None,
              help="Source format when the path does not tell.")
@click.option("--input-shape", default=None,
              help="One sample's shape, e.g. 3,32,32 (PyTorch factories; models without a fixed input).")
@click.option("--opset", type=click.IntRange(min=7), default=17, show_default=True,
              help="ONNX opset to ask the converter for (torch.onnx uses at least 18).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def command(src, output, fmt, input_shape, opset, force):
    """Convert SRC (.keras/.h5, SavedModel dir, Paddle inference model, package.module:factory)
    to ONNX with every activation site and BatchNorm kept for scoring."""
    from onnxscore.converters import convert, converter_warnings
    from onnxscore.converters._extras import ConverterWarning
    from onnxscore.converters.detect import detect_format
    from onnxscore.errors import InputError
    from onnxscore.loaders import special_file_kind
    from onnxscore.outputs import check_outputs

    import onnx

    if opset > onnx.defs.onnx_opset_version():
        raise InputError(f"--opset {opset} is newer than this onnx knows (at most {onnx.defs.onnx_opset_version()})")
    kind = special_file_kind(src)
    if kind:  # before format detection: a device or FIFO is never read
        raise InputError(f"'{src}' is {kind}, not a model; pass a framework model to convert")
    if (fmt or detect_format(src)) == "onnx":
        raise InputError(f"{src} is already ONNX: there is nothing to convert; score it directly "
                         f"(onnxscore {src})")
    check_outputs({"-o": output}, force=force, inputs=_source_files(src))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConverterWarning)  # printed once below
        model = convert(src, fmt=fmt, input_shape=input_shape, opset=opset)
    _write(model, output, force)
    for w in converter_warnings(model):
        click.echo(f"onnxscore: warning: {w}", err=True)
    click.echo(f"wrote {output}: {summary(model)}")
