"""jacov: -sum_j [log(lambda_j + k) + 1/(lambda_j + k)], lambda the eigenvalues (np.linalg.eig, real
parts) of the row correlation of d(sum of all logits)/dX, k = 1e-5; any failure is NaN."""
import numpy as np

from onnxscore.proxies.gradient.captured import Captured
from onnxscore.proxies.gradient.registry import INPUT_GRAD_OF_LOGIT_SUM, register

K = 1e-5


@register("jacov", {INPUT_GRAD_OF_LOGIT_SUM}, "input-gradient correlation score (Mellor et al., NASLib form)")
def jacov(c: Captured) -> float:
    jac = np.asarray(c.input_grad, dtype=np.float64).reshape(c.input_grad.shape[0], -1)
    with np.errstate(all="ignore"):
        try:
            corr = np.corrcoef(jac)
            v = np.linalg.eig(corr)[0].real
        except (np.linalg.LinAlgError, ValueError):
            return float("nan")
        return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))
