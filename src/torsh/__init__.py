"""torsh: functional deep learning on JAX/XLA with PyTorch's vocabulary."""

from . import errors, tree

__version__ = "0.1.0"
__all__ = ["errors", "tree", "__version__"]
