"""nnspec_core: non-normal spectral diagnostics of neural-network optimizers.

The public API is re-exported here explicitly; modules own one concept each.
"""

from nnspec_core._validation import check_matrix, check_scalar

__all__ = ["check_matrix", "check_scalar"]
__version__ = "0.1.0"
