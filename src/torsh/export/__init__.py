"""Ship a trained model without its Python code: StableHLO artifacts, ONNX and IREE.

``torsh.export.export(model, x, dynamic={"x": {0: "batch"}})`` lowers the model with
:func:`jax.export.export` (symbolic dimensions by name, several platforms at once) and keeps its weights
beside the program as safetensors tensors; ``.save("model.torshx")`` writes one file and
:func:`load` returns a callable in any process, without the model's code and without pickle.

Example:
    >>> import os, tempfile, jax.numpy as jnp, torsh
    >>> from torsh import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.torshx")
    >>> torsh.export.export(model, jnp.ones((1, 4)), dynamic={"input": {0: "batch"}}).save(path)
    >>> served = torsh.export.load(path)
    >>> served
    ExportedModel((input: float32[batch, 4]) -> (output: float32[batch, 3]), platforms=['cpu'])
    >>> bool(jnp.allclose(served(jnp.ones((5, 4))), model(jnp.ones((5, 4))), atol=1e-6))
    True
"""

from ._api import FORMAT, FORMAT_VERSION, Exported, ExportedModel, describe, export, load
from ._errors import ArtifactIntegrityError, ExportError, UnsupportedOperationError
from ._iree import run_iree, to_iree
from ._onnx import to_onnx, unsupported_onnx_primitives
from ._signature import TensorSpec, parse_input_spec

__all__ = [
    "export",
    "load",
    "describe",
    "Exported",
    "ExportedModel",
    "TensorSpec",
    "parse_input_spec",
    "to_onnx",
    "unsupported_onnx_primitives",
    "to_iree",
    "run_iree",
    "FORMAT",
    "FORMAT_VERSION",
    "ExportError",
    "UnsupportedOperationError",
    "ArtifactIntegrityError",
]
