"""Engine fixtures: the real U²-Netp model (fetched by the test setup) and sample inputs."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from clearcutout.config import EngineSettings
from clearcutout.engine import Remover
from clearcutout.engine.sample import sample_photo

REPO = Path(__file__).resolve().parents[2]
DEV_SET = REPO.parent / "shared" / "eval" / "dev"


@pytest.fixture(scope="session")
def engine_settings() -> EngineSettings:
    return EngineSettings()


@pytest.fixture(scope="session")
def remover(engine_settings: EngineSettings) -> Remover:
    """U²-Netp, fetched into the model cache on first use (the tests' model)."""
    return Remover("u2netp", settings=engine_settings).load()


@pytest.fixture(scope="session")
def sample_jpeg() -> bytes:
    """A generated photo: an orange ball (left) and a blue cup (right) on a table."""
    return sample_photo()


@pytest.fixture(scope="session")
def sample_rgb(sample_jpeg: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(sample_jpeg)).convert("RGB"))


@pytest.fixture(scope="session")
def dev_set() -> Path:
    if not (DEV_SET / "images").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the evaluation set is missing at {DEV_SET} (CI lays ../shared beside)")
        pytest.skip(f"evaluation set not present at {DEV_SET}")
    return DEV_SET


# Where the sample's objects are (see clearcutout.engine.sample): points well inside them
# and well outside, in the 960×640 image.
BALL_CENTRE = (365, 352)  # x, y
CUP_CENTRE = (672, 380)
SKY_CORNER = (40, 40)
TABLE_CORNER = (900, 600)
