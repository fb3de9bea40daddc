"""Named phase-study presets (frozen :class:`nnspec_core.studies.StudyConfig` instances).

``tiny``   2 learning rates x 2 seeds x 20 steps (gd, heavy ball): the end-to-end test case, seconds.
``paper``  the default reproduction of the seed paper's setting: two-layer tanh networks (width 16) on
           ``moons`` (128 points, MSE, full batch), GD / heavy ball (beta 0.9) / Adam, 7 learning rates
           log-spaced across the stability edge eta_edge of the initial operator, 5 seeds, 150 steps;
           conventions: heavy ball buffer + history, Adam frozen + full raw + full scaled.
           Ranges (multiples of eta_edge): GD 0.3..3; heavy ball 0.1..1.5 (it diverges from ~0.5x on, its
           sharpness grows during training); Adam 1..100 (the initial edge uses the first step's
           preconditioner ``1/|g_0|``; loss spikes appear only from ~10x on). The ranges were chosen from
           loss curves alone (probe runs labelled with the primary rule), so that every optimizer has both
           stable and unstable runs; no indicator was looked at.
``deep``   the paper setting extended to 3 and 4 weight layers (width 8 to keep Adam's full 3n x 3n
           operators small), 6 learning rates, 4 seeds.
"""

from __future__ import annotations

from nnspec_core.studies import StudyConfig

__all__ = ["PRESETS", "TINY", "PAPER", "DEEP", "preset"]

TINY = StudyConfig(
    name="tiny",
    optimizers=("gd", "heavy_ball"),
    depths=(2,),
    seeds=(0, 1),
    n_lrs=2,
    lr_range=(0.1, 4.0),
    steps=20,
    n_samples=64,
    width=8,
    n_boot=200,
)
_RANGES = (("adam", 1.0, 100.0), ("heavy_ball", 0.1, 1.5))
PAPER = StudyConfig(
    name="paper",
    optimizers=("gd", "heavy_ball", "adam"),
    depths=(2,),
    seeds=(0, 1, 2, 3, 4),
    n_lrs=7,
    lr_range=(0.3, 3.0),
    lr_range_by_optimizer=_RANGES,
)
DEEP = StudyConfig(
    name="deep",
    optimizers=("gd", "heavy_ball", "adam"),
    depths=(2, 3, 4),
    seeds=(0, 1, 2, 3),
    n_lrs=6,
    width=8,
    lr_range_by_optimizer=_RANGES,
)
PRESETS: dict[str, StudyConfig] = {"tiny": TINY, "paper": PAPER, "deep": DEEP}


def preset(name: str) -> StudyConfig:
    """The preset called ``name`` (ValueError naming the choices otherwise)."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(map(repr, PRESETS))}; got {name!r}.")
    return PRESETS[name]
