"""Import torchvision as a test-only reference on these machines.

PyPI's ``torchvision==0.28.0`` (the release matching ``torch==2.13.0``) ships compiled operators built for
the CUDA torch build; beside the CPU wheel its import fails with ``operator torchvision::nms does not
exist``. Its models, transforms and datasets are pure Python: declaring the two operator schemas that its
import registers fake implementations for is enough (the compiled ``nms`` itself is never called by the
tests). The alternative, ``torch==2.14.1 torchvision==0.29.1``, is a 5.5 GB CUDA build: not worth the CI time.

Usage in tests::

    from _vision_torchvision import torchvision, tv_transforms   # (tests/vision is on sys.path)
"""

from __future__ import annotations

import torch

_lib = None


def _declare_ops() -> None:
    global _lib
    try:
        torch.ops.torchvision.nms  # noqa: B018 - already declared (e.g. by a CUDA build)
        return
    except (AttributeError, RuntimeError):
        pass
    _lib = torch.library.Library("torchvision", "DEF")
    _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


_declare_ops()

import torchvision  # noqa: E402
import torchvision.transforms.v2 as tv_transforms  # noqa: E402

__all__ = ["torchvision", "tv_transforms"]
