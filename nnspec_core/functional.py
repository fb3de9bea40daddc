"""Pure torch step functions equal to torch.optim, and the autodiff Jacobian (ground truth).

All tensors are flat parameter vectors in ``torch.nn.utils.parameters_to_vector`` order.
The step functions mirror torch's single-tensor implementations operation by operation
(SGD with dampening 0, RMSprop without momentum/centering, Adam, AdamW), but never modify
their inputs, so ``torch.func`` can differentiate them.

:func:`step_map` builds the exact map ``z_t -> z_{t+1}`` in every state convention of
:mod:`nnspec_core.operators`; :func:`autodiff_jacobian` differentiates it with
``torch.func.jacrev``: the ground truth that the analytic operators are tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from nnspec_core._validation import check_choice, check_scalar
from nnspec_core.operators import COORDS, DEFAULT_COORDS, OPTIMIZERS, SCALINGS, v_scale

__all__ = [
    "sgd_step",
    "rmsprop_step",
    "adam_step",
    "optimizer_step",
    "torch_optimizer",
    "flat_optimizer_state",
    "step_map",
    "autodiff_jacobian",
]

Tensor = torch.Tensor
#: torch state keys per optimizer, in the order they are stacked after theta (the one home of this table).
STATE_KEYS = {
    "gd": (),
    "heavy_ball": ("momentum_buffer",),
    "nesterov": ("momentum_buffer",),
    "rmsprop": ("square_avg",),
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
}


def sgd_step(
    theta: Tensor,
    grad: Tensor,
    buf: Tensor | None = None,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """One torch SGD step (dampening 0): ``b' = beta b + g~``, ``theta' = theta - lr (g~ + beta b' | b')``.

    Parameters
    ----------
    theta, grad : Tensor of shape (n,)
        Parameters theta_t and ``dL/dtheta`` at theta_t (without weight decay).
    buf : Tensor of shape (n,) or None
        Momentum buffer b_t; None is torch's first step (``b' = g~``, the same as ``b = 0``).
    lr, momentum, weight_decay : float
        torch's hyperparameters (coupled weight decay ``g~ = g + wd theta``).
    nesterov : bool
        torch's ``nesterov=True``: the step direction is ``g~ + beta b'``.

    Returns
    -------
    (theta_next, buf_next) : Tensors of shape (n,); ``buf_next`` is None when momentum is 0.
    """
    g = grad.add(theta, alpha=weight_decay) if weight_decay != 0 else grad
    if momentum != 0:
        buf = g.clone() if buf is None else buf.mul(momentum).add(g)
        d = g.add(buf, alpha=momentum) if nesterov else buf
    else:
        buf, d = None, g
    return theta.add(d, alpha=-lr), buf


def rmsprop_step(
    theta: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    *,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    denom: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One torch RMSprop step (no momentum, not centered).

    ``v' = alpha v + (1 - alpha) g~^2``, ``theta' = theta - lr g~ / (sqrt(v') + eps)``.

    Parameters
    ----------
    theta, grad, square_avg : Tensor of shape (n,)
        theta_t, ``dL/dtheta`` at theta_t (without weight decay), v_t.
    denom : Tensor of shape (n,), optional
        Use this fixed denominator instead of ``sqrt(v') + eps`` (frozen preconditioner).

    Returns
    -------
    (theta_next, square_avg_next) : Tensors of shape (n,)
    """
    g = grad.add(theta, alpha=weight_decay) if weight_decay != 0 else grad
    v1 = square_avg.mul(alpha).addcmul(g, g, value=1 - alpha)
    avg = v1.sqrt().add(eps) if denom is None else denom
    return theta.addcdiv(g, avg, value=-lr), v1


def adam_step(
    theta: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    *,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = False,
    denom: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One torch Adam (``decoupled=False``) or AdamW (``decoupled=True``) step number ``step``.

    ``m' = lerp(m, g~, 1 - beta1)``, ``v' = beta2 v + (1 - beta2) g~^2``,
    ``theta' = theta_d - (lr / (1 - beta1^t)) m' / (sqrt(v') / sqrt(1 - beta2^t) + eps)`` with
    ``theta_d = theta (1 - lr wd)`` (AdamW) or ``theta`` and ``g~ = g + wd theta`` (Adam).

    Parameters
    ----------
    theta, grad, exp_avg, exp_avg_sq : Tensor of shape (n,)
        theta_t, ``dL/dtheta`` at theta_t (without weight decay), m_t, v_t.
    step : int
        torch step number t >= 1 being taken (bias corrections).
    denom : Tensor of shape (n,), optional
        Use this fixed denominator instead of ``sqrt(v')/sqrt(1 - beta2^t) + eps``.

    Returns
    -------
    (theta_next, exp_avg_next, exp_avg_sq_next) : Tensors of shape (n,)
    """
    beta1, beta2 = betas
    g = grad
    if weight_decay != 0:
        if decoupled:
            theta = theta.mul(1 - lr * weight_decay)
        else:
            g = grad.add(theta, alpha=weight_decay)
    m1 = exp_avg.lerp(g, 1 - beta1)
    v1 = exp_avg_sq.mul(beta2).addcmul(g, g, value=1 - beta2)
    step_size = lr / (1 - beta1**step)
    if denom is None:
        denom = (v1.sqrt() / (1 - beta2**step) ** 0.5).add(eps)
    return theta.addcdiv(m1, denom, value=-step_size), m1, v1


def _hyper(
    optimizer: str, *, lr: Any, momentum: Any, betas: Any, eps: Any, alpha: Any, weight_decay: Any, step: Any
) -> dict[str, Any]:
    """Validated hyperparameters (plain floats/ints)."""
    h: dict[str, Any] = {
        "lr": check_scalar(lr, "lr", min_val=0.0),
        "weight_decay": check_scalar(weight_decay, "weight_decay", min_val=0.0),
    }
    if optimizer in ("heavy_ball", "nesterov"):
        h["momentum"] = check_scalar(momentum, "momentum", min_val=0.0, max_val=1.0, include_max=False)
    if optimizer in ("rmsprop", "adam", "adamw"):
        h["eps"] = check_scalar(eps, "eps", min_val=0.0)
    if optimizer == "rmsprop":
        h["alpha"] = check_scalar(alpha, "alpha", min_val=0.0, max_val=1.0)
    if optimizer in ("adam", "adamw"):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}.")
        h["betas"] = tuple(
            check_scalar(b, f"betas[{i}]", min_val=0.0, max_val=1.0, include_max=False) for i, b in enumerate(betas)
        )
        h["step"] = check_scalar(step, "step", min_val=1, integer=True)
    return h


def optimizer_step(
    optimizer: str,
    theta: Tensor,
    grad: Tensor,
    state: Mapping[str, Tensor] | None = None,
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    alpha: float = 0.99,
    weight_decay: float = 0.0,
    step: int = 1,
) -> tuple[Tensor, dict[str, Tensor]]:
    """One pure step of ``optimizer`` (torch.optim semantics), returning the new state.

    Parameters
    ----------
    optimizer : {"gd", "heavy_ball", "nesterov", "rmsprop", "adam", "adamw"}
    theta, grad : Tensor of shape (n,)
        theta_t and ``dL/dtheta`` at theta_t (without weight decay).
    state : mapping of str to Tensor of shape (n,), optional
        torch names ``momentum_buffer`` / ``square_avg`` / ``exp_avg``, ``exp_avg_sq``. Missing
        entries are torch's initial state (zeros; a missing momentum buffer is torch's first step).
    step : int
        torch step number t + 1 being taken (Adam bias corrections).

    Returns
    -------
    (theta_next, state_next) : Tensor of shape (n,) and dict with the keys of ``STATE_KEYS[optimizer]``.
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    h = _hyper(
        optimizer, lr=lr, momentum=momentum, betas=betas, eps=eps, alpha=alpha, weight_decay=weight_decay, step=step
    )
    state = {} if state is None else state
    if optimizer in ("gd", "heavy_ball", "nesterov"):
        theta1, buf = sgd_step(
            theta, grad, state.get("momentum_buffer"), lr=h["lr"], momentum=h.get("momentum", 0.0),
            weight_decay=h["weight_decay"], nesterov=optimizer == "nesterov",
        )  # fmt: skip
        return theta1, ({} if buf is None else {"momentum_buffer": buf})
    if optimizer == "rmsprop":
        v = state.get("square_avg", torch.zeros_like(theta))
        theta1, v1 = rmsprop_step(
            theta, grad, v, lr=h["lr"], alpha=h["alpha"], eps=h["eps"], weight_decay=h["weight_decay"]
        )
        return theta1, {"square_avg": v1}
    m = state.get("exp_avg", torch.zeros_like(theta))
    v = state.get("exp_avg_sq", torch.zeros_like(theta))
    theta1, m1, v1 = adam_step(
        theta, grad, m, v, step=h["step"], lr=h["lr"], betas=h["betas"], eps=h["eps"],
        weight_decay=h["weight_decay"], decoupled=optimizer == "adamw",
    )  # fmt: skip
    return theta1, {"exp_avg": m1, "exp_avg_sq": v1}


def torch_optimizer(
    optimizer: str,
    params: Iterable[Tensor],
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    alpha: float = 0.99,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """The real ``torch.optim`` optimizer for ``optimizer`` (single-tensor path, ``foreach=False``).

    gd/heavy_ball/nesterov -> ``SGD`` (dampening 0), rmsprop -> ``RMSprop`` (no momentum, not
    centered), adam -> ``Adam``, adamw -> ``AdamW`` (all with the given ``weight_decay``).
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    h = _hyper(
        optimizer, lr=lr, momentum=momentum, betas=betas, eps=eps, alpha=alpha, weight_decay=weight_decay, step=1
    )
    params = list(params)
    wd = h["weight_decay"]
    if optimizer in ("gd", "heavy_ball", "nesterov"):
        return torch.optim.SGD(
            params, lr=h["lr"], momentum=h.get("momentum", 0.0), dampening=0.0, weight_decay=wd,
            nesterov=optimizer == "nesterov", foreach=False,
        )  # fmt: skip
    if optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"], weight_decay=wd, foreach=False)
    cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=h["lr"], betas=h["betas"], eps=h["eps"], weight_decay=wd, foreach=False)


def flat_optimizer_state(
    optimizer: torch.optim.Optimizer, params: Iterable[Tensor] | None = None
) -> dict[str, np.ndarray | int]:
    """The torch optimizer's state as flat float64 numpy vectors (``parameters_to_vector`` order).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        SGD, RMSprop, Adam or AdamW.
    params : iterable of Tensor, optional
        Parameter order (e.g. ``model.parameters()``); default: the optimizer's param groups.

    Returns
    -------
    dict
        ``"theta"``: the parameters, shape (n,); ``"step"``: int, the number of steps taken t
        (0 before the first step; pass ``step = t + 1`` to :func:`update_operator`); every
        per-parameter state key torch holds (``momentum_buffer``, ``square_avg``, ``exp_avg``,
        ``exp_avg_sq``), shape (n,), zeros where torch has not created it yet; and ``"grad"``
        (``p.grad``, without weight decay) when every parameter has one. After
        ``optimizer.step()`` ``p.grad`` is the gradient at the *previous* iterate: recompute it at
        theta_t before building an operator there.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}.")
    plist = [p for group in optimizer.param_groups for p in group["params"]] if params is None else list(params)
    keys = ("momentum_buffer", "square_avg", "exp_avg", "exp_avg_sq")
    present = {k for p in plist for k, val in optimizer.state.get(p, {}).items() if k in keys and val is not None}
    if isinstance(optimizer, torch.optim.SGD) and optimizer.defaults.get("momentum", 0) != 0:
        present.add("momentum_buffer")

    def flat(get: Callable[[Tensor], Tensor | None]) -> np.ndarray:
        parts = []
        for p in plist:
            val = get(p)
            parts.append(np.zeros(p.numel()) if val is None else val.detach().cpu().double().reshape(-1).numpy())
        return np.concatenate(parts) if parts else np.zeros(0)

    out: dict[str, np.ndarray | int] = {"theta": flat(lambda p: p)}
    for k in sorted(present):
        out[k] = flat(lambda p, k=k: optimizer.state.get(p, {}).get(k))
    if plist and all(p.grad is not None for p in plist):
        out["grad"] = flat(lambda p: p.grad)
    steps = [optimizer.state.get(p, {}).get("step", 0) for p in plist]
    out["step"] = int(max((float(s) for s in steps), default=0))
    return out


def _as_tensor(x: ArrayLike | Tensor, name: str, n: int | None = None) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t.to(torch.float64).reshape(-1) if t.ndim <= 1 else t
    if t.ndim != 1 or (n is not None and t.shape[0] != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise ValueError(f"{name} must have shape {want}; got shape {tuple(t.shape)}.")
    if not torch.all(torch.isfinite(t)):
        raise ValueError(f"{name} must contain only finite numbers.")
    return t


def step_map(
    optimizer: str,
    loss_fn_flat: Callable[[Tensor], Tensor],
    theta: ArrayLike | Tensor,
    state: Mapping[str, ArrayLike | Tensor] | None = None,
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    alpha: float = 0.99,
    weight_decay: float = 0.0,
    step: int = 1,
    coords: str | None = None,
    scaling: str = "scaled",
) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """The exact one-step map ``z_t -> z_{t+1}`` of ``optimizer`` in a state convention, and ``z_t``.

    ``fn`` is a pure torch function (composable with ``torch.func``) of the stacked state; its
    Jacobian at ``z0`` is :func:`autodiff_jacobian`. Conventions (as the analytic operators):

    * ``"theta"``/``"buffer"``: ``(theta, b) -> (theta', b')`` of torch SGD.
    * ``"history"``: ``(theta_k, theta_{k-1}) -> (theta_{k+1}, theta_k)``. Heavy ball runs torch's
      step with buffer ``b = (theta_{k-1} - theta_k) / lr`` (needs lr > 0); Nesterov uses
      ``y = theta_k + beta (theta_k - theta_{k-1})``, ``theta_{k+1} = y - lr grad L~(y)`` (its
      Hessian is evaluated at ``y``; the linearisation has the eigenvalues of torch's buffer form).
    * ``"frozen"``: the real step with its denominator ``sqrt(c2 v_{t+1}) + eps`` computed at
      ``(theta_t, state_t)`` and then held fixed; RMSProp over ``theta``, Adam over ``(theta, m)``.
    * ``"simple"``: ``theta -> theta (1 - lr wd_d) - (lr c1) g~(theta) / denom`` with the fixed denom.
    * ``"full"``: ``(theta, [m,] v) -> (theta', [m',] v')``; with ``scaling="scaled"`` the map is
      conjugated by ``S = diag(I, [I,] diag(v_scale(v_{t+1}, eps)))``, i.e. ``z0`` holds ``v / v_scale``.

    Parameters
    ----------
    optimizer : str
        One of ``OPTIMIZERS``.
    loss_fn_flat : callable
        ``theta (Tensor (n,), float64) -> scalar Tensor``, composable with ``torch.func``.
    theta : array_like or Tensor of shape (n,)
        The iterate theta_t (theta_k for history coords).
    state : mapping, optional
        ``exp_avg`` (Adam, default zeros), ``exp_avg_sq`` (Adam, required), ``square_avg``
        (RMSProp, required), ``momentum_buffer`` (default zeros; J does not depend on it) and
        ``theta_prev`` (history coords, default ``theta``), each of shape (n,). ``grad`` is
        ignored (``grad(loss_fn_flat)`` is used).
    lr, momentum, betas, eps, alpha, weight_decay, step, coords, scaling
        As in :func:`nnspec_core.operators.update_operator`.

    Returns
    -------
    (fn, z0)
        ``fn`` maps a float64 Tensor of shape (d,) to shape (d,); ``z0`` of shape (d,) is the
        current state in the layout of the analytic operator (``d = n`` times the number of blocks).
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    if not callable(loss_fn_flat):
        raise TypeError(f"loss_fn_flat must be callable; got {type(loss_fn_flat).__name__}.")
    h = _hyper(
        optimizer, lr=lr, momentum=momentum, betas=betas, eps=eps, alpha=alpha, weight_decay=weight_decay, step=step
    )
    coords = DEFAULT_COORDS[optimizer] if coords is None else check_choice(coords, "coords", COORDS[optimizer])
    scaling = check_choice(scaling, "scaling", SCALINGS)
    theta = _as_tensor(theta, "theta")
    n = theta.shape[0]
    state = {} if state is None else state

    def get(key: str) -> Tensor:
        if key in state:
            return _as_tensor(state[key], f"state[{key!r}]", n)
        if key in ("exp_avg_sq", "square_avg"):
            raise ValueError(f"state is missing key {key!r}, needed by {optimizer} coords={coords!r}.")
        return theta.clone() if key == "theta_prev" else torch.zeros(n, dtype=torch.float64)

    grad_fn = torch.func.grad(loss_fn_flat)
    if optimizer in ("gd", "heavy_ball", "nesterov"):
        return _momentum_map(optimizer, grad_fn, theta, get, h, coords)
    if optimizer == "rmsprop":
        return _rmsprop_map(grad_fn, theta, get("square_avg"), h, coords, scaling)
    return _adam_map(optimizer, grad_fn, theta, get("exp_avg"), get("exp_avg_sq"), h, coords, scaling)


def autodiff_jacobian(
    optimizer: str,
    loss_fn_flat: Callable[[Tensor], Tensor],
    theta: ArrayLike | Tensor,
    state: Mapping[str, ArrayLike | Tensor] | None = None,
    *,
    lr: float,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    alpha: float = 0.99,
    weight_decay: float = 0.0,
    step: int = 1,
    coords: str | None = None,
    scaling: str = "scaled",
) -> np.ndarray:
    """Exact Jacobian of one optimizer step over the whole state, by ``torch.func.jacrev`` (float64).

    The ground truth for :func:`nnspec_core.operators.update_operator`: the Jacobian at ``z0`` of
    the map of :func:`step_map` (same arguments and conventions), i.e. of the pure torch step that
    equals torch.optim, with ``g = grad(loss_fn_flat)`` at the current parameters. Frozen and
    simple forms hold the preconditioner of the step fixed; history coords use ``theta_prev``.

    Returns
    -------
    ndarray of shape (d, d), float64
        ``d = n`` times the number of state blocks, in the layout of the analytic operator.
    """
    fn, z0 = step_map(
        optimizer, loss_fn_flat, theta, state, lr=lr, momentum=momentum, betas=betas, eps=eps, alpha=alpha,
        weight_decay=weight_decay, step=step, coords=coords, scaling=scaling,
    )  # fmt: skip
    return torch.func.jacrev(fn)(z0).detach().numpy()


def _momentum_map(optimizer, grad_fn, theta, get, h, coords):
    n = theta.shape[0]
    lr, wd = h["lr"], h["weight_decay"]
    beta = h.get("momentum", 0.0)
    nesterov = optimizer == "nesterov"
    if coords == "theta":
        return (lambda z: sgd_step(z, grad_fn(z), lr=lr, weight_decay=wd)[0]), theta
    if coords == "buffer":

        def fn(z):
            th, b = z[:n], z[n:]
            th1, b1 = sgd_step(th, grad_fn(th), b, lr=lr, momentum=beta, weight_decay=wd, nesterov=nesterov)
            return torch.cat([th1, b1])

        return fn, torch.cat([theta, get("momentum_buffer")])
    if not nesterov and lr == 0:
        raise ValueError("lr must be > 0 for heavy-ball history coordinates (buffer = (theta_prev - theta)/lr); got 0.")

    def fn_hist(z):
        th, th_prev = z[:n], z[n:]
        if nesterov:
            y = th + beta * (th - th_prev)
            th1 = sgd_step(y, grad_fn(y), lr=lr, weight_decay=wd)[0]
        else:
            b = (th_prev - th) / lr
            th1 = sgd_step(th, grad_fn(th), b, lr=lr, momentum=beta, weight_decay=wd)[0]
        return torch.cat([th1, th])

    return fn_hist, torch.cat([theta, get("theta_prev")])


def _scale(v_next: Tensor, eps: float) -> Tensor:
    return torch.as_tensor(v_scale(v_next.detach().numpy(), eps))


def _rmsprop_map(grad_fn, theta, v, h, coords, scaling):
    n = theta.shape[0]
    kw = {"lr": h["lr"], "alpha": h["alpha"], "eps": h["eps"], "weight_decay": h["weight_decay"]}
    v_next = rmsprop_step(theta, grad_fn(theta), v, **kw)[1].detach()
    if coords == "frozen":
        denom = v_next.sqrt().add(h["eps"])
        return (lambda z: rmsprop_step(z, grad_fn(z), v, denom=denom, **kw)[0]), theta
    s = _scale(v_next, h["eps"]) if scaling == "scaled" else torch.ones(n, dtype=torch.float64)

    def fn(z):
        th, vv = z[:n], z[n:] * s
        th1, v1 = rmsprop_step(th, grad_fn(th), vv, **kw)
        return torch.cat([th1, v1 / s])

    return fn, torch.cat([theta, v / s])


def _adam_map(optimizer, grad_fn, theta, m, v, h, coords, scaling):
    n = theta.shape[0]
    kw = {
        "step": h["step"], "lr": h["lr"], "betas": h["betas"], "eps": h["eps"], "weight_decay": h["weight_decay"],
        "decoupled": optimizer == "adamw",
    }  # fmt: skip
    v_next = adam_step(theta, grad_fn(theta), m, v, **kw)[2].detach()
    denom = (v_next.sqrt() / (1 - h["betas"][1] ** h["step"]) ** 0.5).add(h["eps"])
    if coords == "simple":
        # momentum dropped: beta1 = 0 in the m recursion, torch's step size lr * c1 kept
        c1 = 1.0 / (1.0 - h["betas"][0] ** h["step"])
        lr, wd = h["lr"], h["weight_decay"]

        def fn_simple(z):
            g, th_d = grad_fn(z), z
            if wd != 0:
                if optimizer == "adamw":
                    th_d = z.mul(1 - lr * wd)
                else:
                    g = g.add(z, alpha=wd)
            return th_d.addcdiv(g, denom, value=-lr * c1)

        return fn_simple, theta
    if coords == "frozen":

        def fn_frozen(z):
            th1, m1, _ = adam_step(z[:n], grad_fn(z[:n]), z[n:], v, denom=denom, **kw)
            return torch.cat([th1, m1])

        return fn_frozen, torch.cat([theta, m])
    s = _scale(v_next, h["eps"]) if scaling == "scaled" else torch.ones(n, dtype=torch.float64)

    def fn_full(z):
        th1, m1, v1 = adam_step(z[:n], grad_fn(z[:n]), z[n : 2 * n], z[2 * n :] * s, **kw)
        return torch.cat([th1, m1, v1 / s])

    return fn_full, torch.cat([theta, m, v / s])
