"""transformers as a test reference: its import pulls in torchvision, which on these machines must be
imported through tests/vision/_vision_torchvision.py (it declares two operator schemas first)."""

from __future__ import annotations

import pathlib
import sys

_VISION = str(pathlib.Path(__file__).resolve().parents[1] / "vision")
if _VISION not in sys.path:
    sys.path.append(_VISION)

import _vision_torchvision  # noqa: E402,F401
import torch  # noqa: E402
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()

__all__ = ["torch", "transformers"]
