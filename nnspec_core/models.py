"""Small MLPs, their losses and target encodings (torch, float64 by default).

The parameter vector ``theta`` is the concatenation of ``p.reshape(-1)`` over
``model.parameters()`` in order (layer by layer, weight then bias), as in
``torch.nn.utils.parameters_to_vector``. That order is the coordinate order of the
Hessian and of every update operator.

Losses (mean over the batch):

``"mse"``            ``L = mean over samples and outputs of (f(x) - y)^2`` (torch ``mse_loss``).
                     Binary classification uses one output and labels ``y = +-1``; K > 2 classes use
                     K outputs and one-hot targets; regression uses one output.
``"cross_entropy"``  softmax cross-entropy on K logits (K = n_classes, also for K = 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nnspec_core._validation import check_choice, check_scalar

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "make_mlp",
    "count_params",
    "output_dim",
    "encode_targets",
    "loss_function",
    "accuracy",
    "predict",
]

ACTIVATIONS = ("tanh", "relu", "gelu", "linear")
LOSSES = ("mse", "cross_entropy")
MAX_DEPTH = 4
MAX_WIDTH = 64


def _activation(name: str) -> nn.Module:
    return {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "linear": nn.Identity}[name]()


def count_params(n_in: int, n_out: int, *, depth: int = 1, width: int = 16) -> int:
    """Number of parameters of ``make_mlp(n_in, n_out, depth=depth, width=width)``.

    ``(n_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * n_out``.
    """
    return (n_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * n_out


def make_mlp(
    n_in: int,
    n_out: int,
    *,
    depth: int = 1,
    width: int = 16,
    activation: str = "tanh",
    seed: int = 0,
    init_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """A fully connected network ``n_in -> width (x depth) -> n_out`` with a linear output layer.

    Parameters
    ----------
    n_in, n_out : int
        Input and output dimensions (1 to 64).
    depth : int
        Number of hidden layers, 1 to 4 (1 = the two-layer network of the paper).
    width : int
        Hidden width, 2 to 64.
    activation : {"tanh", "relu", "gelu", "linear"}
    seed : int
        Seed of a local ``torch.Generator``; the global torch RNG is neither used nor changed.
    init_scale : float
        Multiplier (> 0) of torch's default initialisation: weights and biases of a layer with
        fan-in ``f`` are drawn from ``U(-s / sqrt(f), s / sqrt(f))``.
    dtype : torch.dtype
        Parameter dtype (float64 by default).

    Returns
    -------
    torch.nn.Sequential
        Layers ``Linear, act, ..., Linear``; ``count_params(n_in, n_out, depth=, width=)`` parameters.
    """
    n_in = int(check_scalar(n_in, "n_in", min_val=1, max_val=64, integer=True))
    n_out = int(check_scalar(n_out, "n_out", min_val=1, max_val=64, integer=True))
    depth = int(check_scalar(depth, "depth", min_val=1, max_val=MAX_DEPTH, integer=True))
    width = int(check_scalar(width, "width", min_val=2, max_val=MAX_WIDTH, integer=True))
    check_choice(activation, "activation", ACTIVATIONS)
    seed = int(check_scalar(seed, "seed", min_val=0, integer=True))
    s = float(check_scalar(init_scale, "init_scale", min_val=0.0, include_min=False))
    sizes = [n_in] + [width] * depth + [n_out]
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = torch.nn.utils.skip_init(nn.Linear, a, b, dtype=dtype)  # no draw from the global RNG
        bound = s / math.sqrt(a)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        layers.append(lin)
        if i < depth:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


def output_dim(task: str, n_classes: int, loss: str) -> int:
    """Number of network outputs for a task/loss pair (see the module docstring)."""
    check_choice(task, "task", ("classification", "regression"))
    check_choice(loss, "loss", LOSSES)
    if task == "regression":
        if loss != "mse":
            raise ValueError(f"loss must be 'mse' for a regression data set; got {loss!r}.")
        return 1
    if loss == "mse" and n_classes == 2:
        return 1
    return int(n_classes)


def encode_targets(
    y: np.ndarray, *, task: str, n_classes: int, loss: str, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Targets in the form the loss expects.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Labels ``0..n_classes-1`` (classification) or real targets (regression).

    Returns
    -------
    torch.Tensor
        Shape (n, 1) float for regression and binary MSE (labels mapped to ``-1, +1``);
        (n, K) one-hot float for K-class MSE; (n,) int64 class indices for cross-entropy.
    """
    n_out = output_dim(task, n_classes, loss)
    y = np.asarray(y)
    if task == "regression":
        return torch.as_tensor(y, dtype=dtype).reshape(-1, 1)
    labels = torch.as_tensor(y.astype(np.int64))
    if loss == "cross_entropy":
        return labels
    if n_out == 1:
        return (2.0 * labels.to(dtype) - 1.0).reshape(-1, 1)
    return torch.nn.functional.one_hot(labels, n_out).to(dtype)


def loss_function(loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The batch-mean loss ``L(outputs, targets)`` for ``"mse"`` or ``"cross_entropy"``."""
    check_choice(loss, "loss", LOSSES)
    return torch.nn.functional.mse_loss if loss == "mse" else torch.nn.functional.cross_entropy


def accuracy(outputs: torch.Tensor, y: np.ndarray) -> float:
    """Fraction of correct labels: sign of a single output (label 1 = positive), else argmax.

    ``outputs`` has shape (n, n_out); ``y`` holds int labels of shape (n,). NaN outputs count as wrong.
    """
    out = outputs.detach()
    pred = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
    if len(y) == 0:
        return float("nan")
    return float((pred.cpu().numpy() == np.asarray(y)).mean())


def predict(model: nn.Module, X: np.ndarray, *, theta: np.ndarray | None = None) -> np.ndarray:
    """Network outputs at ``X``, optionally with the flat parameter vector ``theta`` swapped in.

    Parameters
    ----------
    X : ndarray of shape (m, n_in)
    theta : ndarray of shape (n_params,) or None
        Parameters in ``parameters_to_vector`` order; ``None`` uses the model's own.

    Returns
    -------
    ndarray of shape (m, n_out), float64
    """
    params = dict(model.named_parameters())
    dtype = next(iter(params.values())).dtype
    x = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype)
    with torch.no_grad():
        if theta is None:
            out = model(x)
        else:
            th = torch.as_tensor(np.asarray(theta, dtype=np.float64), dtype=dtype).reshape(-1)
            n_params = sum(p.numel() for p in params.values())
            if th.numel() != n_params:
                raise ValueError(f"theta must have {n_params} entries; got {th.numel()}.")
            new, i = {}, 0
            for k, p in params.items():
                new[k] = th[i : i + p.numel()].reshape(p.shape)
                i += p.numel()
            out = torch.func.functional_call(model, new, (x,))
    return out.detach().cpu().numpy().astype(np.float64)
