"""onnxscore: training-free NAS proxies (ePADS, NASWOT, SWAP) for any ONNX model."""
__version__ = "0.1.0"

from onnxscore.errors import OnnxscoreError  # noqa: E402
from onnxscore.scorer import ScoreResult, Scorer, score  # noqa: E402


def list_proxies() -> list[str]:
    """Names of every registered proxy."""
    from onnxscore.proxies import names

    return names()


__all__ = ["OnnxscoreError", "ScoreResult", "Scorer", "score", "list_proxies", "__version__"]
