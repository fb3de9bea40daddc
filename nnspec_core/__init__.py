"""nnspec_core: non-normal spectral diagnostics of neural-network optimizers.

The public API is re-exported here explicitly. Attributes are resolved lazily (PEP 562) so that
``import nnspec_core`` stays cheap and numpy-only tools (e.g. ``python -m nnspec_core analyze``)
never import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "check_matrix": "_validation",
    "check_scalar": "_validation",
    "momentum_blocks": "blocks",
    "block_basis": "blocks",
    "blocks_to_dense": "blocks",
    "eig2x2": "blocks",
    "kappa2x2": "blocks",
    "sigma_min2x2": "blocks",
    "sigma_max2x2": "blocks",
    "block_power_norms": "blocks",
    "OPTIMIZERS": "operators",
    "COORDS": "operators",
    "DEFAULT_COORDS": "operators",
    "SCALINGS": "operators",
    "UpdateOperator": "operators",
    "update_operator": "operators",
    "optimizer_step": "functional",
    "torch_optimizer": "functional",
    "flat_optimizer_state": "functional",
    "step_map": "functional",
    "autodiff_jacobian": "functional",
    "flat_parameters": "hessian",
    "flat_loss_fn": "hessian",
    "flat_hessian": "hessian",
    "hessian": "hessian",
    "hvp_operator": "hessian",
    "SpectrumResult": "spectra",
    "OperatorDiagnostics": "spectra",
    "spectrum": "spectra",
    "eigenvalues": "spectra",
    "spectral_radius": "spectra",
    "kappa_V": "spectra",
    "eigenvalue_condition_numbers": "spectra",
    "henrici_departure": "spectra",
    "commutator_norm": "spectra",
    "classify_eigenvalues": "spectra",
    "rho_plus": "spectra",
    "stability_threshold": "spectra",
    "preconditioned_sharpness": "spectra",
    "operator_diagnostics": "spectra",
    "MatrixLoadError": "matrix_io",
    "load_matrix_bytes": "matrix_io",
    "load_matrix_file": "matrix_io",
    "parse_matrix_text": "matrix_io",
    "save_matrix": "matrix_io",
    "load_state_npz": "matrix_io",
    "LabelRule": "phases",
    "STANDARD_RULES": "phases",
    "label_steps": "phases",
    "spike_onsets": "phases",
    "auroc": "phase_stats",
    "roc_curve": "phase_stats",
    "cluster_bootstrap_ci": "phase_stats",
    "study_statistics": "phase_stats",
    "StudyStatistics": "phase_stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'nnspec_core' has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"nnspec_core.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
