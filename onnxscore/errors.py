"""User-facing errors: each one's message is a single line saying what is wrong and how to fix it."""


class OnnxscoreError(Exception):
    """Base of every error onnxscore reports to a user (the CLI prints it without a traceback)."""


class ModelLoadError(OnnxscoreError):
    """The model file is missing, unreadable, not ONNX, or fails the checker."""


class InputError(OnnxscoreError):
    """An input batch, shape, option or setting is unusable."""


class OutputError(InputError):
    """An output file may not or cannot be written (it exists, it is an input, its disk is full)."""


class StoreError(InputError):
    """The result store is not an onnxscore store, is read-only where a write is needed, or its disk failed."""


class ProxyError(OnnxscoreError):
    """A proxy cannot be computed (unknown name, missing parameter, no activation site)."""


class ProviderError(OnnxscoreError):
    """The requested onnxruntime execution provider is not usable here."""


class ConverterError(OnnxscoreError):
    """A framework model could not be converted to ONNX."""


class WorkerError(OnnxscoreError):
    """Worker processes cannot start or be given the job (a run-wide failure, not one model's)."""


class MissingExtraError(OnnxscoreError):
    """An optional dependency (a framework converter, Ray, matplotlib) is not installed."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed; install it with: {install_hint(extra)}")


def extra_requirements(extra: str) -> list[str]:
    """The requirements of onnxscore's optional `extra`, read from the installed package's metadata."""
    import importlib.metadata
    import re

    try:
        reqs = importlib.metadata.requires("onnxscore") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    out = []
    for req in reqs:
        spec, _, env = req.partition(";")
        if marker.search(env):
            out.append(spec.strip())  # platform markers dropped: the command is for this machine
    return out


def install_hint(extra: str) -> str:
    """A pip command that works wherever onnxscore came from: the extra's own requirements (onnxscore
    itself is not on the package index), and the checkout form."""
    reqs = extra_requirements(extra)
    named = " ".join(f'"{r}"' for r in reqs) if reqs else f'"onnxscore[{extra}]"'
    return f'pip install {named} (the "{extra}" extra; from a checkout: pip install ".[{extra}]")'


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first non-empty line of str(exc) (library errors can span pages; ours must fit one line);
    `default` (the exception's type name unless given) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default
