"""Loading torchvision checkpoints saved as safetensors into torsh models."""

from __future__ import annotations

import os
from typing import TypeVar

from ... import serialize
from ...errors import CheckpointError
from ...nn import Module

__all__ = ["load_weights", "WeightsArg"]

M = TypeVar("M", bound=Module)
WeightsArg = str | os.PathLike | None


def load_weights(model: M, path: str | os.PathLike, *, strict: bool = True) -> M:
    """``model`` with the weights of a safetensors file of a torchvision state dict (a new module).

    Keys are torchvision's own (``layer1.0.conv1.weight``), so a file written from PyTorch with
    ``safetensors.torch.save_file(tv_model.state_dict(), path)`` (or ``torsh convert``) loads as is.
    Values are cast to the model's dtypes (torchvision's int64 ``num_batches_tracked`` becomes the
    model's int32). ``strict=False`` keeps the model's values for keys the file lacks and ignores extra
    ones (wrong shapes still fail). The mode (``train``/``eval``), frozen fields and logical axes of
    ``model`` are kept.

    Args:
        model: A torsh module (typically from a builder such as :func:`resnet18`).
        path: A safetensors file.
        strict: Require the file's keys to match the model's exactly.

    Returns:
        A new module with the file's values.

    Raises:
        CheckpointError: If ``model`` is not a module, the file does not exist, or it is a pickled
            PyTorch checkpoint (``.pth``; convert it with ``torsh convert``). Missing, unexpected and
            mis-shaped keys are reported together in one :class:`torsh.serialize.StateDictMismatchError`
            (a CheckpointError) naming each key.

    Example:
        >>> import os, tempfile, torsh
        >>> from torsh.vision import models
        >>> a = models.lenet5(key=torsh.random.key(0))
        >>> path = os.path.join(tempfile.mkdtemp(), "lenet.safetensors")
        >>> torsh.serialize.save(path, a.state_dict())
        >>> b = models.load_weights(models.lenet5(key=torsh.random.key(1)), path)
        >>> bool((a.conv1.weight == b.conv1.weight).all())
        True
    """
    if not isinstance(model, Module):
        raise CheckpointError(f"load_weights: expected a torsh nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(
            f"load_weights: {path!r} does not exist. torsh never downloads weights: save torchvision's "
            "state dict as safetensors first, e.g. `torsh convert resnet18.pth resnet18.safetensors` or "
            "safetensors.torch.save_file(torchvision.models.resnet18(weights='DEFAULT').state_dict(), path)"
        )
    if path.endswith((".pth", ".pt", ".bin", ".ckpt")):
        raise CheckpointError(
            f"load_weights: {path!r} looks like a pickled PyTorch checkpoint; torsh never unpickles. "
            "Convert it first: `torsh convert weights.pth weights.safetensors`"
        )
    return serialize.load(path, like=model, strict=strict, cast=True)


def finish(model: M, weights: WeightsArg) -> M:
    """A constructor's tail: load ``weights`` (a safetensors path) when given."""
    if weights is None:
        return model
    if not isinstance(weights, (str, os.PathLike)):
        raise CheckpointError(
            f"weights must be a path to a safetensors file (torsh never downloads weights), got "
            f"{type(weights).__name__}; convert torchvision's checkpoint with `torsh convert`"
        )
    return load_weights(model, weights)
