"""Tests for nnspec_core.data: seeded, deterministic generators with the requested sizes."""

import numpy as np
import pytest

from nnspec_core.data import CLASSIFICATION, DATASETS, REGRESSION, make_dataset


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("n_samples,test_fraction", [(256, 0.25), (37, 0.1), (10, 0.0)])
def test_sizes_dtypes_and_split(name, n_samples, test_fraction):
    ds = make_dataset(name, n_samples=n_samples, test_fraction=test_fraction, seed=1)
    n_test = round(test_fraction * n_samples)
    d = 1 if name == "sine" else 2
    assert ds.X_train.shape == (n_samples - n_test, d) and ds.X_test.shape == (n_test, d)
    assert ds.y_train.shape == (n_samples - n_test,) and ds.y_test.shape == (n_test,)
    assert ds.X_train.dtype == np.float64 and np.all(np.isfinite(ds.X_train))
    if name in CLASSIFICATION:
        assert ds.task == "classification" and ds.n_classes == 2 and ds.y_train.dtype == np.int64
        # both classes present in the whole set, balanced to within one point
        y_all = np.concatenate([ds.y_train, ds.y_test])
        counts = np.bincount(y_all, minlength=2)
        assert counts.min() >= 1 and (name == "xor" or abs(counts[0] - counts[1]) <= 1)
    else:
        assert ds.task == "regression" and ds.n_classes == 0 and ds.y_train.dtype == np.float64


@pytest.mark.parametrize("name", DATASETS)
def test_seeded_and_deterministic(name):
    a = make_dataset(name, n_samples=64, seed=7, noise=0.2)
    b = make_dataset(name, n_samples=64, seed=7, noise=0.2)
    c = make_dataset(name, n_samples=64, seed=8, noise=0.2)
    for f in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.X_train, c.X_train) or not np.array_equal(a.y_train, c.y_train)


def test_train_and_test_are_a_partition_of_the_noiseless_set():
    ds = make_dataset("moons", n_samples=50, noise=0.0, test_fraction=0.2, seed=0)
    X = np.concatenate([ds.X_train, ds.X_test])
    # noiseless moons lie exactly on the two half circles
    r_outer = np.hypot(X[:, 0], X[:, 1])
    r_inner = np.hypot(X[:, 0] - 1.0, X[:, 1] - 0.5)
    assert np.all(np.minimum(abs(r_outer - 1), abs(r_inner - 1)) < 1e-12)
    assert len(np.unique(X.round(12), axis=0)) == 50


def test_noise_zero_regression_targets_are_exact():
    ds = make_dataset("sine", n_samples=40, noise=0.0, seed=2)
    np.testing.assert_allclose(ds.y_train, np.sin(ds.X_train[:, 0]), rtol=0, atol=1e-15)


def test_noise_std_is_respected_in_regression():
    ds = make_dataset("sine", n_samples=20000, noise=0.3, test_fraction=0.0, seed=4)
    resid = ds.y_train - np.sin(ds.X_train[:, 0])
    assert abs(resid.std() - 0.3) < 0.01


def test_multiclass_and_features():
    ds = make_dataset("blobs", n_samples=90, n_classes=3, seed=0)
    assert ds.n_classes == 3 and set(np.concatenate([ds.y_train, ds.y_test])) == {0, 1, 2}
    sp = make_dataset("spiral", n_samples=90, n_classes=4, seed=0)
    assert sp.n_classes == 4
    ts = make_dataset("teacher_student", n_samples=30, n_features=5, seed=0)
    assert ts.n_features == 5 and ts.X_test.shape[1] == 5
    assert set(REGRESSION) == {"teacher_student", "sine"}


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(name="mnist"), ValueError, "name must be one of"),
        (dict(name="moons", n_samples=2), ValueError, "n_samples must be >= 4"),
        (dict(name="moons", n_samples=10.5), ValueError, "n_samples must be an integer"),
        (dict(name="moons", noise=-0.1), ValueError, "noise must be >= 0"),
        (dict(name="moons", noise="a"), TypeError, "noise must be a real number"),
        (dict(name="moons", test_fraction=0.95), ValueError, "test_fraction must be <= 0.9"),
        (dict(name="moons", n_classes=3), ValueError, "n_classes must be 2 for data set 'moons'"),
        (dict(name="sine", n_features=2), ValueError, "n_features must be 1"),
        (dict(name="moons", seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_bad_input_messages(kwargs, exc, match):
    name = kwargs.pop("name")
    with pytest.raises(exc, match=match):
        make_dataset(name, **kwargs)
