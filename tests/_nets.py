"""Small seeded torch networks and data for the operator / functional / Hessian tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nnspec_core.hessian import flat_hessian, flat_loss_fn, flat_parameters


@dataclass
class Net:
    model: torch.nn.Module
    x: torch.Tensor  # (N, d_in)
    y: torch.Tensor  # (N, 1)
    loss: object  # flat loss theta -> scalar
    theta: torch.Tensor  # (n,)

    @property
    def n(self) -> int:
        return int(self.theta.numel())

    def grad(self, theta: torch.Tensor | None = None) -> np.ndarray:
        th = self.theta if theta is None else theta
        return torch.func.grad(self.loss)(th).detach().numpy()

    def hessian(self, theta: torch.Tensor | None = None) -> np.ndarray:
        return flat_hessian(self.loss, self.theta if theta is None else theta)


def make_mlp(seed: int, *, widths: tuple[int, ...] = (2, 4, 1)) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers).double()


def make_data(seed: int, *, d_in: int = 2, d_out: int = 1, n_samples: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(n_samples, d_in, generator=gen, dtype=torch.float64)
    y = torch.sin(2 * x[:, :1]) + 0.1 * torch.randn(n_samples, d_out, generator=gen, dtype=torch.float64)
    return x, y


def make_net(seed: int = 0, *, widths: tuple[int, ...] = (2, 4, 1), n_samples: int = 8) -> Net:
    """Tanh MLP (default 2 -> 4 -> 1, 17 parameters) with MSE loss on seeded data, float64."""
    model = make_mlp(seed, widths=widths)
    x, y = make_data(seed, d_in=widths[0], d_out=widths[-1], n_samples=n_samples)
    loss = flat_loss_fn(model, torch.nn.functional.mse_loss, x, y)
    return Net(model=model, x=x, y=y, loss=loss, theta=flat_parameters(model))


def random_state(net: Net, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Realistic random optimizer state at net.theta: v > 0 of the size of g^2, m of the size of g."""
    g = net.grad()
    n = net.n
    scale = np.abs(g) + 1e-3 * np.abs(g).max()
    return {
        "theta": net.theta.numpy().copy(),
        "grad": g,
        "exp_avg": scale * rng.standard_normal(n) * 0.5,
        "exp_avg_sq": (scale * rng.uniform(0.3, 3.0, n)) ** 2,
        "square_avg": (scale * rng.uniform(0.3, 3.0, n)) ** 2,
        "momentum_buffer": scale * rng.standard_normal(n),
        "theta_prev": net.theta.numpy() + 0.05 * rng.standard_normal(n),
    }
