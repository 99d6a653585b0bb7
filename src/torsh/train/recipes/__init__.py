"""Built-in recipes of ``torsh train`` (``digits_cnn.py`` is recipe ``digits-cnn``).

See :mod:`torsh.train._recipes` for the module contract. Modules starting with ``_`` are helpers.
"""

__all__ = ()  # recipes are run by name (`torsh train digits-cnn`), not imported
