"""Small seeded data sets generated in code (no downloads, no scikit-learn).

Classification: ``"moons"``, ``"circles"``, ``"xor"``, ``"spiral"``, ``"blobs"`` (2-D inputs).
Regression: ``"teacher_student"`` (``n_features``-D inputs, a fixed random tanh teacher) and
``"sine"`` (1-D inputs, ``y = sin(x)``).

Every generator draws from one ``numpy.random.Generator`` seeded by ``seed``, so the same
arguments give bit-identical arrays. ``noise`` is the standard deviation of Gaussian noise added
to the inputs (classification) or to the targets (regression).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnspec_core._validation import check_choice, check_scalar

__all__ = ["DATASETS", "CLASSIFICATION", "REGRESSION", "Dataset", "make_dataset"]

CLASSIFICATION = ("moons", "circles", "xor", "spiral", "blobs")
REGRESSION = ("teacher_student", "sine")
DATASETS = CLASSIFICATION + REGRESSION

#: Hidden width of the fixed random teacher network of ``"teacher_student"``.
TEACHER_WIDTH = 4


@dataclass(frozen=True)
class Dataset:
    """A train/test split of a generated data set.

    Attributes
    ----------
    name : str
        Generator name (one of ``DATASETS``).
    task : {"classification", "regression"}
    n_classes : int
        Number of classes (0 for regression).
    X_train : ndarray of shape (n_train, n_features), float64
    y_train : ndarray of shape (n_train,)
        int64 class labels ``0..n_classes-1`` (classification) or float64 targets (regression).
    X_test : ndarray of shape (n_test, n_features), float64
    y_test : ndarray of shape (n_test,)
    noise : float
        Standard deviation of the added Gaussian noise.
    seed : int
    """

    name: str
    task: str
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    noise: float
    seed: int

    def __post_init__(self) -> None:
        assert self.X_train.ndim == 2 and self.X_test.ndim == 2
        assert self.X_train.shape[0] == self.y_train.shape[0] and self.X_test.shape[0] == self.y_test.shape[0]
        assert self.X_train.shape[1] == self.X_test.shape[1]

    @property
    def n_features(self) -> int:
        """Input dimension."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])


def _split_counts(n: int, n_classes: int) -> np.ndarray:
    """Class sizes as equal as possible, summing to ``n``."""
    counts = np.full(n_classes, n // n_classes)
    counts[: n % n_classes] += 1
    return counts


def _moons(n, rng, noise, n_classes, n_features):
    n_out, n_in = _split_counts(n, 2)
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate(
        [np.stack([np.cos(t_out), np.sin(t_out)], 1), np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)]
    )
    y = np.repeat([0, 1], [n_out, n_in])
    return X + noise * rng.standard_normal(X.shape), y


def _circles(n, rng, noise, n_classes, n_features, factor=0.5):
    n_out, n_in = _split_counts(n, 2)
    t_out = np.linspace(0.0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0.0, 2 * np.pi, n_in, endpoint=False)
    X = np.concatenate(
        [np.stack([np.cos(t_out), np.sin(t_out)], 1), factor * np.stack([np.cos(t_in), np.sin(t_in)], 1)]
    )
    y = np.repeat([0, 1], [n_out, n_in])
    return X + noise * rng.standard_normal(X.shape), y


def _xor(n, rng, noise, n_classes, n_features):
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + noise * rng.standard_normal(X.shape), y


def _spiral(n, rng, noise, n_classes, n_features):
    counts = _split_counts(n, n_classes)
    Xs, ys = [], []
    for c, m in enumerate(counts):
        r = np.linspace(0.05, 1.0, m)
        phi = 2 * np.pi * c / n_classes + 1.75 * 2 * np.pi * r / 2  # 1.75 half-turns over the radius
        Xs.append(np.stack([r * np.cos(phi), r * np.sin(phi)], 1))
        ys.append(np.full(m, c))
    X = np.concatenate(Xs)
    return X + noise * rng.standard_normal(X.shape), np.concatenate(ys)


def _blobs(n, rng, noise, n_classes, n_features, spread=0.3):
    counts = _split_counts(n, n_classes)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes + np.pi / 4
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)  # (n_classes, 2) on the unit circle
    y = np.repeat(np.arange(n_classes), counts)
    X = centres[y] + spread * rng.standard_normal((n, 2))
    return X + noise * rng.standard_normal(X.shape), y


def _teacher_student(n, rng, noise, n_classes, n_features):
    X = rng.standard_normal((n, n_features))
    W1 = rng.standard_normal((n_features, TEACHER_WIDTH)) / np.sqrt(n_features)
    w2 = rng.standard_normal(TEACHER_WIDTH) / np.sqrt(TEACHER_WIDTH)
    y = np.tanh(X @ W1) @ w2
    return X, y + noise * rng.standard_normal(n)


def _sine(n, rng, noise, n_classes, n_features):
    X = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return X, np.sin(X[:, 0]) + noise * rng.standard_normal(n)


_GENERATORS = {
    "moons": _moons,
    "circles": _circles,
    "xor": _xor,
    "spiral": _spiral,
    "blobs": _blobs,
    "teacher_student": _teacher_student,
    "sine": _sine,
}
_NATIVE_FEATURES = {"sine": 1, "teacher_student": None}  # None: chosen by n_features (default 2)


def make_dataset(
    name: str,
    *,
    n_samples: int = 256,
    noise: float = 0.1,
    test_fraction: float = 0.25,
    seed: int = 0,
    n_features: int | None = None,
    n_classes: int = 2,
) -> Dataset:
    """Generate a seeded data set and split it into train and test parts.

    Parameters
    ----------
    name : str
        One of ``DATASETS``: ``"moons"``, ``"circles"``, ``"xor"``, ``"spiral"``, ``"blobs"``
        (classification, 2-D inputs), ``"teacher_student"``, ``"sine"`` (regression).
    n_samples : int
        Total number of points (train + test), 4 to 100000.
    noise : float
        Standard deviation (>= 0) of Gaussian noise added to the inputs (classification)
        or to the targets (regression).
    test_fraction : float
        Fraction of points held out, in [0, 0.9]; ``n_test = round(test_fraction * n_samples)``.
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the points, the noise and the split.
    n_features : int or None
        Input dimension of ``"teacher_student"`` (default 2, at most 64). The other sets have a
        fixed dimension (1 for ``"sine"``, 2 otherwise); passing a different value is an error.
    n_classes : int
        Number of classes of ``"spiral"`` and ``"blobs"`` (2 to 8); the other classification
        sets have 2 classes and refuse other values.

    Returns
    -------
    Dataset
        Shuffled split: ``X_train`` of shape (n_samples - n_test, n_features), ``y_train`` of shape
        (n_samples - n_test,), ``X_test``/``y_test`` of shape (n_test, n_features)/(n_test,).

    Raises
    ------
    ValueError, TypeError
        On an unknown name or out-of-range argument.
    """
    check_choice(name, "name", DATASETS)
    n = int(check_scalar(n_samples, "n_samples", min_val=4, max_val=100_000, integer=True))
    noise = float(check_scalar(noise, "noise", min_val=0.0))
    test_fraction = float(check_scalar(test_fraction, "test_fraction", min_val=0.0, max_val=0.9))
    seed = int(check_scalar(seed, "seed", min_val=0, integer=True))
    K = int(check_scalar(n_classes, "n_classes", min_val=2, max_val=8, integer=True))
    if name in ("moons", "circles", "xor") and K != 2:
        raise ValueError(f"n_classes must be 2 for data set {name!r}; got {n_classes!r}.")
    native = _NATIVE_FEATURES.get(name, 2)
    if name == "teacher_student":
        d = (
            2
            if n_features is None
            else int(check_scalar(n_features, "n_features", min_val=1, max_val=64, integer=True))
        )
    else:
        d = native
        if n_features is not None and check_scalar(n_features, "n_features", integer=True) != native:
            raise ValueError(f"n_features must be {native} (or None) for data set {name!r}; got {n_features!r}.")
    rng = np.random.default_rng(seed)
    X, y = _GENERATORS[name](n, rng, noise, K, d)
    task = "regression" if name in REGRESSION else "classification"
    y = y.astype(np.float64 if task == "regression" else np.int64)
    perm = rng.permutation(n)
    n_test = int(round(test_fraction * n))
    test, train = perm[:n_test], perm[n_test:]
    X = np.ascontiguousarray(X, dtype=np.float64)
    return Dataset(
        name=name,
        task=task,
        n_classes=K if task == "classification" else 0,
        X_train=X[train],
        y_train=y[train],
        X_test=X[test],
        y_test=y[test],
        noise=noise,
        seed=seed,
    )
