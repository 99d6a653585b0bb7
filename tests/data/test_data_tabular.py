"""Tabular datasets over polars/pyarrow tables and small CSV/Parquet files written by the tests."""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from torsh.data import (
    DataFileNotFoundError,
    DataLoader,
    MissingDependencyError,
    TabularDataset,
    read_csv,
    read_parquet,
)
from torsh.errors import ConfigError, DataError

N = 12


def _frame() -> pl.DataFrame:
    g = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "age": g.integers(18, 90, N),
            "height": g.normal(170, 10, N),
            "smoker": g.integers(0, 2, N).astype(bool),
            "city": [f"c{i % 3}" for i in range(N)],
            "label": g.integers(0, 3, N),
            "score": g.normal(size=N),
        }
    )


def _expected(df: pl.DataFrame, features, dtype=np.float32) -> np.ndarray:
    return np.stack([df[c].cast(pl.Float64).to_numpy() for c in features], axis=1).astype(dtype)


@pytest.mark.parametrize("source", ["polars", "lazy", "arrow", "batch"])
def test_features_label_split_from_tables(source):
    df = _frame()
    table = {"polars": df, "lazy": df.lazy(), "arrow": df.to_arrow(), "batch": df.to_arrow().to_batches()[0]}[
        source
    ]
    ds = TabularDataset(table, columns=["age", "height", "smoker"], label="label")
    x, y = ds[3]
    np.testing.assert_allclose(x, _expected(df, ["age", "height", "smoker"])[3])
    assert x.dtype == np.float32 and y == df["label"][3]
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    assert xb.shape == (5, 3) and yb.dtype == np.int64
    np.testing.assert_array_equal(yb, df["label"].to_numpy()[:5])


def test_default_columns_dtypes_multi_label_and_no_label():
    df = _frame().drop("city")
    ds = TabularDataset(df, label=["label", "score"], dtype=np.float64, dtypes={"label": "float64"})
    x, y = ds[0]
    assert ds.feature_columns == ("age", "height", "smoker") and x.dtype == np.float64
    assert y.shape == (2,) and y.dtype == np.float64
    rows = TabularDataset(df, columns=["age", "height"])
    assert rows[2].shape == (2,)  # features only: each sample is a row
    labels_only = TabularDataset(df, columns=[], label="label")
    assert int(labels_only[4]) == df["label"][4]


def test_dict_mode_is_zero_copy_for_numeric_columns_and_keeps_strings():
    table = _frame().to_arrow()
    ds = TabularDataset(table, columns=["height", "city"], label="label", stack=False)
    features, label = ds[1]
    assert set(features) == {"height", "city"} and features["city"] == "c1"
    height_column = ds.arrays[0]["height"]
    buffer_address = table.column("height").chunk(0).buffers()[1].address
    assert height_column.__array_interface__["data"][0] == buffer_address  # a view, not a copy
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch[0]["city"] == ["c0", "c1", "c2", "c0"] and batch[0]["height"].dtype == np.float64


def test_csv_and_parquet_round_trip_with_column_projection(tmp_path):
    df = _frame()
    csv_path, parquet_path = tmp_path / "t.csv", tmp_path / "t.parquet"
    df.write_csv(csv_path)
    pq.write_table(df.to_arrow(), parquet_path, row_group_size=5)  # several chunks: the copy path
    expected = _expected(df, ["age", "height"])
    for ds in (
        read_csv(csv_path, columns=["age", "height"], label="label"),
        read_parquet(parquet_path, columns=["age", "height"], label="label"),
    ):
        assert len(ds) == N and ds.feature_columns == ("age", "height")
        xs = np.stack([ds[i][0] for i in range(N)])
        np.testing.assert_allclose(xs, expected, rtol=1e-6)
        np.testing.assert_array_equal([int(ds[i][1]) for i in range(N)], df["label"].to_numpy())
    semi = tmp_path / "semi.csv"
    semi.write_text("a;b\n1;2\n3;4\n")
    assert read_csv(semi, label="b", separator=";")[1][0].tolist() == [3.0]


def test_tabular_errors(tmp_path):
    df = _frame()
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['weight'\]"):
        TabularDataset(df, columns=["weight"])
    with pytest.raises(ConfigError, match="both features and labels"):
        TabularDataset(df, columns=["age", "label"], label="label")
    with pytest.raises(DataError, match="feature column `city` has type String"):
        TabularDataset(df, label="label")
    with_null = df.with_columns(
        pl.when(pl.int_range(N) == 4).then(None).otherwise(pl.col("height")).alias("height")
    )
    with pytest.raises(DataError, match=r"column `height` has 1 null value\(s\) \(first at row 4\)"):
        TabularDataset(with_null, columns=["height"])
    with pytest.raises(DataError, match=r"column `height` has 1 null value\(s\) \(first at row 4\)"):
        TabularDataset(with_null.to_arrow(), columns=["height"])
    with pytest.raises(ConfigError, match="expected a polars DataFrame or a pyarrow Table"):
        TabularDataset({"a": [1, 2]})
    with pytest.raises(DataFileNotFoundError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    assert issubclass(DataFileNotFoundError, FileNotFoundError)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(DataError, match="read_parquet: cannot read"):
        read_parquet(broken)
    with pytest.raises(DataError, match="cannot be cast"):
        TabularDataset(df, columns=["city"], stack=False, dtypes={"city": "float32"})


def test_missing_data_extra_names_the_install_command(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    for name in [m for m in sys.modules if m == "polars" or m.startswith(("polars.", "pyarrow"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "polars", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "torsh\[data\]"') as info:
        read_csv(path)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r'pip install "torsh\[data\]"'):
        read_parquet(path)
