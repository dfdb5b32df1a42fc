"""onnxscore: training-free NAS proxies (activation patterns, gradients, AZ-NAS, VKDNW, ensembles) for any ONNX model.

The scoring API loads on first use (PEP 562), so `import onnxscore` and the CLI start without
onnx and onnxruntime until a command needs them."""
__version__ = "0.1.0"

from onnxscore.errors import OnnxscoreError  # noqa: E402

_LAZY = {"ScoreResult": "onnxscore.scorer", "Scorer": "onnxscore.scorer", "score": "onnxscore.scorer",
         "convert": "onnxscore.converters", "register_space": "onnxscore.spaces",
         "register_proxy": ("onnxscore.proxies.registry", "register"),
         "rank": ("onnxscore.engine.job", "rank"), "evaluate": ("onnxscore.evaluation", "evaluate"),
         "search": ("onnxscore.searching", "search"), "ScoreSettings": "onnxscore.settings",
         "register_ensemble": "onnxscore.proxies.ensemble",
         "select_ensemble": ("onnxscore.proxies.ensemble.select", "greedy_select")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name] if isinstance(_LAZY[name], tuple) else (_LAZY[name], name)
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'onnxscore' has no attribute {name!r}")


def list_proxies() -> list[str]:
    """Names of every registered proxy."""
    from onnxscore.proxies import names

    return names()


__all__ = ["OnnxscoreError", "ScoreResult", "Scorer", "ScoreSettings", "score", "convert", "rank", "evaluate", "search",
           "register_space", "register_proxy", "register_ensemble", "select_ensemble", "list_proxies",
           "__version__"]
