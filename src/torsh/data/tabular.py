"""Tabular data: datasets over polars DataFrames and pyarrow Tables, CSV and Parquet readers.

polars and pyarrow are optional (``pip install "torsh[data]"``) and imported only when used.
Columns are turned into NumPy arrays once, at construction; numeric columns without nulls are
viewed without copying (one Arrow buffer, read-only). Stacking several feature columns into one
row-major ``(n, features)`` matrix costs one copy, paid once, so that every batch is a single gather.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._errors import DataError, MissingDependencyError
from .dataset import ArrayDataset

__all__ = ["TabularDataset", "read_csv", "read_parquet", "DataFileNotFoundError"]

_INSTALL = 'pip install "torsh[data]"'


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file that does not exist.

    Example:
        >>> from torsh import data
        >>> try:
        ...     data.read_csv("/no/such.csv")
        ... except data.DataFileNotFoundError as e:
        ...     print(e)
        read_csv: no such file: '/no/such.csv'
    """


def _require(module: str, purpose: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(
            f"torsh.data: {purpose} needs {module}, which is not installed; "
            f"install the data extra: {_INSTALL}"
        ) from None


def _kind(table: Any) -> str:
    module = type(table).__module__.split(".")[0]
    name = type(table).__name__
    if module == "polars" and name in ("DataFrame", "LazyFrame"):
        return "polars"
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "arrow"
    raise ConfigError(
        f"TabularDataset: expected a polars DataFrame or a pyarrow Table, got {type(table).__module__}.{name}"
    )


def _polars_column(df: Any, name: str) -> tuple[np.ndarray, int, str, bool]:
    import polars as pl

    series = df.get_column(name)
    numeric = series.dtype.is_numeric() or series.dtype == pl.Boolean
    nulls = series.null_count()
    if nulls:
        return np.empty(0), nulls, str(series.dtype), numeric
    if numeric:
        values = series.to_numpy()
    else:
        values = np.asarray(series.to_list(), dtype=object)
    return values, 0, str(series.dtype), numeric


def _arrow_column(table: Any, name: str) -> tuple[np.ndarray, int, str, bool]:
    import pyarrow as pa
    import pyarrow.types as pat

    column = table.column(name)
    kind = column.type
    numeric = pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)
    if column.null_count:
        return np.empty(0), column.null_count, str(kind), numeric
    if numeric and not pat.is_boolean(kind):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        if len(chunks) == 1:
            values = chunks[0].to_numpy(zero_copy_only=True)  # a read-only view of the Arrow buffer
        else:
            values = column.to_numpy()
    elif numeric:
        values = column.to_numpy()
    else:
        values = np.asarray(column.to_pylist(), dtype=object)
    return values, 0, str(kind), numeric


def _first_null_row(table: Any, kind: str, name: str) -> int:
    if kind == "polars":
        return int(table.get_column(name).is_null().arg_max())
    import pyarrow.compute as pc

    mask = pc.is_null(table.column(name)).to_numpy(zero_copy_only=False)
    return int(np.argmax(mask))


def _as_list(names: str | Sequence[str] | None) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


class TabularDataset(ArrayDataset):
    """Rows of a table as ``(features, label)`` samples.

    Args:
      table: a polars ``DataFrame``/``LazyFrame`` or a pyarrow ``Table``/``RecordBatch``.
      columns: feature columns (default: every column that is not a label).
      label: label column name, a list of names, or ``None`` (samples are features only).
      dtype: dtype of the stacked feature matrix (default float32).
      dtypes: per-column dtypes, e.g. ``{"label": "int32"}`` (for labels and for ``stack=False``).
      stack: ``True``: features are one 1-D array per row (a row of an ``(n, len(columns))`` matrix);
        ``False``: features are a dict ``{column: value}`` keeping each column's own dtype
        (numeric columns without nulls are then zero-copy views; string columns become lists in a batch).

    Raises:
      ConfigError: unknown column names, or a label listed as a feature.
      DataError: a column with nulls (names the column and the first null row), or a non-numeric
        column in a stacked feature matrix.
      ShapeError: From the shared ArrayDataset checks, if the feature and label arrays differ in rows.

    Example:
      >>> import polars as pl
      >>> from torsh.data import TabularDataset
      >>> df = pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "y": [0, 1, 0]})
      >>> ds = TabularDataset(df, label="y")
      >>> x, y = ds[1]
      >>> x, y
      (array([2., 5.], dtype=float32), np.int64(1))
    """

    def __init__(
        self,
        table: Any,
        columns: Sequence[str] | None = None,
        label: str | Sequence[str] | None = None,
        dtype: Any = np.float32,
        dtypes: Mapping[str, Any] | None = None,
        stack: bool = True,
    ) -> None:
        kind = _kind(table)
        if kind == "polars" and type(table).__name__ == "LazyFrame":
            table = table.collect()
        if kind == "arrow" and type(table).__name__ == "RecordBatch":
            import pyarrow as pa

            table = pa.Table.from_batches([table])
        names = list(table.columns if kind == "polars" else table.column_names)
        labels = _as_list(label)
        features = list(columns) if columns is not None else [n for n in names if n not in labels]
        unknown = [c for c in [*features, *labels] if c not in names]
        if unknown:
            raise ConfigError(f"TabularDataset: unknown column(s) {unknown}; the table has {names}")
        overlap = sorted(set(features) & set(labels))
        if overlap:
            raise ConfigError(f"TabularDataset: column(s) {overlap} are both features and labels")
        if not features and not labels:
            raise ConfigError("TabularDataset: no columns selected")
        dtypes = dict(dtypes or {})
        unknown = [c for c in dtypes if c not in features and c not in labels]
        if unknown:
            raise ConfigError(f"TabularDataset: dtypes given for unselected column(s) {unknown}")

        def column(name: str) -> tuple[np.ndarray, bool, str]:
            values, nulls, type_name, numeric = (_polars_column if kind == "polars" else _arrow_column)(
                table, name
            )
            if nulls:
                row = _first_null_row(table, kind, name)
                raise DataError(
                    f"TabularDataset: column `{name}` has {nulls} null value(s) (first at row {row}); "
                    "fill or drop them first (e.g. polars `fill_null`/`drop_nulls`)"
                )
            if name in dtypes:
                try:
                    values = values.astype(dtypes[name], copy=False)
                except (TypeError, ValueError) as exc:
                    raise DataError(
                        f"TabularDataset: column `{name}` ({type_name}) cannot be cast to "
                        f"{dtypes[name]}: {exc}"
                    ) from None
            return values, numeric, type_name

        self.feature_columns = tuple(features)
        self.label_columns = tuple(labels)
        x: Any = None
        if features:
            if stack:
                cols = []
                for name in features:
                    values, numeric, type_name = column(name)
                    if not numeric:
                        raise DataError(
                            f"TabularDataset: feature column `{name}` has type {type_name}; a stacked "
                            "feature matrix needs numeric columns (encode it first, drop it from "
                            "`columns`, or use stack=False)"
                        )
                    cols.append(values)
                x = np.empty((len(cols[0]), len(cols)), dtype=np.dtype(dtype))
                for j, values in enumerate(cols):
                    x[:, j] = values
            else:
                x = {name: column(name)[0] for name in features}
        y: Any = None
        if labels:
            label_values = [column(name)[0] for name in labels]
            y = label_values[0] if isinstance(label, str) else np.stack(label_values, axis=1)
        # Samples: (features, label), or the features alone, or the label alone (rows, not 1-tuples).
        self._init_tree((x, y) if x is not None and y is not None else (x if x is not None else y))

    def __repr__(self) -> str:
        features, labels = list(self.feature_columns), list(self.label_columns)
        return f"TabularDataset({len(self)} rows; features={features}, label={labels})"


def _check_file(path: str | os.PathLike[str], reader: str) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataFileNotFoundError(f"{reader}: no such file: {path!r}")
    return path


def _projection(columns: Sequence[str] | None, label: str | Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    return [*columns, *[c for c in _as_list(label) if c not in columns]]


def _read_table(
    where: str,
    path: str | os.PathLike[str],
    columns: Sequence[str] | None,
    label: str | Sequence[str] | None,
    read: Callable[[str, list[str] | None], Any],
) -> Any:
    """``read(path, wanted columns)`` after checking the file; a reader's failure becomes a DataError."""
    checked = _check_file(path, where)
    wanted = _projection(columns, label)
    try:
        return read(checked, wanted)
    except MissingDependencyError:
        raise
    except Exception as exc:
        raise DataError(f"{where}: cannot read {checked!r}: {type(exc).__name__}: {exc}") from exc


def read_csv(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    label: str | Sequence[str] | None = None,
    dtype: Any = np.float32,
    dtypes: Mapping[str, Any] | None = None,
    stack: bool = True,
    **read_options: Any,
) -> TabularDataset:
    r"""A :class:`TabularDataset` from a CSV file (read with polars, or pyarrow if polars is absent).

    ``read_options`` go to ``polars.read_csv`` (e.g. ``separator=";"``). Only the selected columns
    are parsed when ``columns`` is given.

    Args:
      path: The file.
      columns: Feature columns to keep (default: every column but the label).
      label: The label column(s), returned as the second element of each sample (None: no label).
      dtype: The feature dtype.
      dtypes: Per-column dtypes overriding ``dtype``.
      stack: Stack the features into one ``[n_features]`` array per sample (else a dict by column).
      **read_options: Passed to ``polars.read_csv`` (e.g. ``separator=";"``).

    Returns:
      A :class:`TabularDataset`.

    Raises:
      DataFileNotFoundError: If ``path`` does not exist.
      MissingDependencyError: If neither polars nor pyarrow is installed.
      DataError: For a column with nulls or a non-numeric stacked feature (names the column).

    Example:
      >>> import os, tempfile
      >>> from torsh.data import read_csv
      >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
      >>> _ = open(path, "w").write("a,b,y\n1,2,0\n3,4,1\n")
      >>> x, y = read_csv(path, label="y")[1]
      >>> x.tolist(), int(y)
      ([3.0, 4.0], 1)
    """

    def read(path: str, wanted: list[str] | None) -> Any:
        pl: Any
        try:
            import polars as pl
        except ImportError:
            pl = None
        if pl is not None:
            return pl.read_csv(path, columns=wanted, **read_options)
        _require("pyarrow", "read_csv")
        import pyarrow.csv as pacsv

        convert = pacsv.ConvertOptions(include_columns=wanted) if wanted else None
        return pacsv.read_csv(path, convert_options=convert, **read_options)

    table = _read_table("read_csv", path, columns, label, read)
    return TabularDataset(table, columns=columns, label=label, dtype=dtype, dtypes=dtypes, stack=stack)


def read_parquet(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    label: str | Sequence[str] | None = None,
    dtype: Any = np.float32,
    dtypes: Mapping[str, Any] | None = None,
    stack: bool = True,
) -> TabularDataset:
    """A :class:`TabularDataset` from a Parquet file (pyarrow, or polars if pyarrow is absent).

    Only the selected columns are read when ``columns`` is given. Numeric columns without nulls in a
    single row group are then viewed without copying.

    Args:
        path: The file.
        columns: Feature columns to keep (default: every column but the label).
        label: The label column(s), returned as the second element of each sample (None: no label).
        dtype: The feature dtype.
        dtypes: Per-column dtypes overriding ``dtype``.
        stack: Stack the features into one ``[n_features]`` array per sample (else a dict by column).

    Returns:
        A :class:`TabularDataset`.

    Raises:
        DataFileNotFoundError: If ``path`` does not exist.
        MissingDependencyError: If neither polars nor pyarrow is installed.
        DataError: For a column with nulls or a non-numeric stacked feature (names the column).

    Example:
        >>> import os, tempfile, polars as pl
        >>> from torsh.data import read_parquet
        >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
        >>> pl.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.0], "y": [0, 1]}).write_parquet(path)
        >>> x, y = read_parquet(path, label="y")[1]
        >>> x.tolist(), int(y)
        ([3.0, 4.0], 1)
    """

    def read(path: str, wanted: list[str] | None) -> Any:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            pq = None
        if pq is not None:
            return pq.read_table(path, columns=wanted)
        pl = _require("polars", "read_parquet")
        return pl.read_parquet(path, columns=wanted)

    table = _read_table("read_parquet", path, columns, label, read)
    return TabularDataset(table, columns=columns, label=label, dtype=dtype, dtypes=dtypes, stack=stack)
