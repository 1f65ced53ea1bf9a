"""Matte quality metrics against a ground-truth mask (both H×W float in [0, 1]).

- IoU of the masks at alpha ≥ 0.5;
- MAE, mean absolute error of alpha;
- boundary F-measure: precision/recall of the predicted mask's boundary pixels within a
  3 px tolerance of the true boundary (and vice versa), as in DAVIS's contour accuracy;
- for soft ground truth only (matting sets): SAD (sum of absolute differences / 1000)
  and gradient error (Rhemann et al. 2009: Gaussian-derivative magnitudes, σ = 1.4,
  squared difference summed / 1000).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float32]

BOUNDARY_TOLERANCE_PX = 3


def is_soft(truth: Float) -> bool:
    """Whether a ground truth has partial alpha (a matte, not a binary mask)."""
    partial = (truth > 0.01) & (truth < 0.99)
    return bool(partial.mean() > 0.001)


def _boundary(mask: NDArray[np.uint8]) -> NDArray[np.bool_]:
    eroded = cv2.erode(
        mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    return (mask > 0) & (eroded == 0)


def boundary_f(pred: NDArray[np.uint8], truth: NDArray[np.uint8], tolerance: int) -> float:
    pred_b, truth_b = _boundary(pred), _boundary(truth)
    n_pred, n_truth = int(pred_b.sum()), int(truth_b.sum())
    if n_pred == 0 and n_truth == 0:
        return 1.0
    if n_pred == 0 or n_truth == 0:
        return 0.0
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    truth_zone = cv2.dilate(truth_b.astype(np.uint8), disk) > 0
    pred_zone = cv2.dilate(pred_b.astype(np.uint8), disk) > 0
    precision = float((pred_b & truth_zone).sum()) / n_pred
    recall = float((truth_b & pred_zone).sum()) / n_truth
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _gradient_magnitude(alpha: Float) -> Float:
    smooth = cv2.GaussianBlur(alpha, (0, 0), 1.4)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1) * 0.5
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1) * 0.5
    magnitude: Float = np.sqrt(gx * gx + gy * gy)
    return magnitude


def score(alpha: Float, truth: Float) -> dict[str, float]:
    """All metrics for one image; SAD and gradient only when ``truth`` is soft."""
    pred_mask = (alpha >= 0.5).astype(np.uint8)
    truth_mask = (truth >= 0.5).astype(np.uint8)
    union = int((pred_mask | truth_mask).sum())
    iou = float((pred_mask & truth_mask).sum()) / union if union else 1.0
    difference = np.abs(alpha - truth)
    result = {
        "iou": iou,
        "mae": float(difference.mean()),
        "boundary_f": boundary_f(pred_mask, truth_mask, BOUNDARY_TOLERANCE_PX),
    }
    if is_soft(truth):
        result["sad"] = float(difference.sum()) / 1000.0
        diff = _gradient_magnitude(alpha) - _gradient_magnitude(truth)
        result["grad"] = float((diff * diff).sum()) / 1000.0
    return result
