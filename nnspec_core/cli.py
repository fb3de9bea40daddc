"""Command-line interface: ``python -m nnspec_core <command> ...`` (console script ``nnspec``).

Commands
--------
``operator``  build the update operator J of an optimizer from a Hessian file and write it.
``analyze``   spectral diagnostics of a square matrix file (text summary or JSON).

The CLI adds no numerics: it loads inputs with :mod:`nnspec_core.matrix_io`, calls the same
library functions as the app (:func:`nnspec_core.operators.update_operator`,
:func:`nnspec_core.spectra.spectrum`) and writes their results.

Exit codes: 0 success; 1 bad input (unreadable or unsuitable file, invalid value; one line
``nnspec: error: ...`` on stderr, no traceback); 2 usage error (argparse: usage line plus message);
3 unexpected internal error (one line; ``--debug`` re-raises with the traceback); 130 interrupted.

JSON output (``analyze --json``) uses snake_case keys, complex numbers as ``[re, im]`` and, since
JSON has no infinity, non-finite floats as the strings ``"inf"``, ``"-inf"`` and ``"nan"``.

Adding a command
----------------
Write ``add_arguments(parser)`` and ``run(args) -> int`` in your module and append one entry to
:data:`SUBCOMMANDS`, e.g. ``Subcommand("study", "run a phase study", "nnspec_core.studies:add_cli_arguments",
"nnspec_core.studies:run_cli")``. Functions may be given as callables or as ``"module:function"``
strings; strings are imported only when that command runs (so ``analyze`` never imports torch).
Raise :class:`UsageError` from ``run`` for incompatible flags, ``ValueError``/``TypeError``/``OSError``
for bad input; never catch errors inside loops.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnspec_core.matrix_io import MAX_MATRIX_DIM, MatrixLoadError, load_matrix_file, load_state_npz, save_matrix
from nnspec_core.operators import COORDS, DEFAULT_COORDS, OPTIMIZERS, SCALINGS, update_operator

__all__ = ["main", "Subcommand", "SUBCOMMANDS", "UsageError", "build_parser", "analysis_dict", "to_jsonable", "PROG"]

PROG = "nnspec"
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPT = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Incompatible or missing command-line flags; reported like an argparse error (exit code 2)."""


@dataclass(frozen=True)
class Subcommand:
    """One ``nnspec <name>`` command.

    Attributes
    ----------
    name, help : str
        Command name and one-line help.
    add_arguments : callable or "module:function"
        ``add_arguments(parser: argparse.ArgumentParser) -> None``.
    run : callable or "module:function"
        ``run(args: argparse.Namespace) -> int`` (exit code; None counts as 0).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | str
    run: Callable[[argparse.Namespace], int | None] | str


def _resolve(fn: Callable | str) -> Callable:
    if callable(fn):
        return fn
    module, _, attr = fn.partition(":")
    return getattr(importlib.import_module(module), attr)


# ----------------------------------------------------------------------------------------------------------------------
# shared helpers


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def to_jsonable(x: Any) -> Any:
    """Convert results to JSON-compatible values: arrays to lists, complex to ``[re, im]``, inf/nan to strings.

    Non-finite floats become ``"inf"``, ``"-inf"`` or ``"nan"`` (JSON has no infinity); dataclass-like
    results are not handled here (build a dict first).
    """
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [to_jsonable(v) for v in x.tolist()] if x.ndim else to_jsonable(x.item())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (complex, np.complexfloating)):
        return [to_jsonable(float(x.real)), to_jsonable(float(x.imag))]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x is None or isinstance(x, str):
        return x
    raise TypeError(f"cannot convert {type(x).__name__} to JSON.")


def _load_matrix_arg(path: str, flag: str, max_dim: int) -> np.ndarray:
    try:
        return load_matrix_file(path, max_dim=max_dim)
    except MatrixLoadError as err:
        msg = str(err)
        raise MatrixLoadError(msg if repr(path) in msg and not flag else f"{flag}{path}: {msg}") from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the uninformative None/False of required options and switches."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _write_text(path: str | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")


class _RecordGiven(argparse.Action):
    """Store the value and remember that the flag was given explicitly (to refuse flags that do not apply)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given_flags", ()) or ())
        given.add(self.dest)
        namespace.given_flags = given


# ----------------------------------------------------------------------------------------------------------------------
# operator


#: Optimizers each optional hyperparameter flag applies to (others refuse it).
_APPLIES = {
    "momentum": ("heavy_ball", "nesterov"),
    "beta1": ("adam", "adamw"),
    "beta2": ("adam", "adamw"),
    "step": ("adam", "adamw"),
    "eps": ("rmsprop", "adam", "adamw"),
    "alpha": ("rmsprop",),
    "state": ("rmsprop", "adam", "adamw"),
    "scaling": ("rmsprop", "adam", "adamw"),
}


def _add_operator_arguments(p: argparse.ArgumentParser) -> None:
    d = {k: v.default for k, v in inspect.signature(update_operator).parameters.items()}
    all_coords = sorted({c for cs in COORDS.values() for c in cs})
    p.add_argument("--optimizer", required=True, choices=OPTIMIZERS, help="torch.optim optimizer")
    p.add_argument("--hessian", required=True, metavar="H", help="Hessian file (.npy, .csv, .txt, .mtx), shape (n, n)")
    p.add_argument("--out", required=True, metavar="J", help="output file for J (.npy; .csv, .txt, .mtx also work)")
    p.add_argument("--lr", required=True, type=float, action=_RecordGiven, help="learning rate eta (per step)")
    p.add_argument(
        "--momentum", type=float, default=d["momentum"], action=_RecordGiven, help="beta (heavy_ball, nesterov)"
    )
    p.add_argument("--beta1", type=float, default=d["betas"][0], action=_RecordGiven, help="Adam beta1")
    p.add_argument("--beta2", type=float, default=d["betas"][1], action=_RecordGiven, help="Adam beta2")
    p.add_argument("--eps", type=float, default=d["eps"], action=_RecordGiven, help="eps (rmsprop, adam, adamw)")
    p.add_argument("--alpha", type=float, default=d["alpha"], action=_RecordGiven, help="RMSProp smoothing constant")
    p.add_argument(
        "--weight-decay", type=float, default=d["weight_decay"], action=_RecordGiven, help="coupled (AdamW: decoupled)"
    )
    p.add_argument(
        "--step", type=int, default=d["step"], action=_RecordGiven, help="torch step number t+1 (bias correction)"
    )
    p.add_argument(
        "--state",
        metavar="STATE.npz",
        action=_RecordGiven,
        help="optimizer state (np.savez): grad, exp_avg, exp_avg_sq, square_avg, theta; each shape (n,)",
    )
    p.add_argument(
        "--coords",
        choices=all_coords,
        action=_RecordGiven,
        help="state convention per optimizer: "
        + "; ".join(f"{o}: {'/'.join(c)} (default {DEFAULT_COORDS[o]})" for o, c in COORDS.items()),
    )
    p.add_argument(
        "--scaling", choices=SCALINGS, default=d["scaling"], action=_RecordGiven, help="coordinates of Adam/RMSProp v"
    )
    p.add_argument("--max-dim", type=int, default=MAX_MATRIX_DIM, help="largest accepted n for the Hessian file")


def _check_operator_flags(args: argparse.Namespace) -> None:
    opt = args.optimizer
    given = getattr(args, "given_flags", set()) or set()
    for flag in sorted(given):
        if flag in _APPLIES and opt not in _APPLIES[flag]:
            allowed = ", ".join(_APPLIES[flag])
            raise UsageError(f"--{flag.replace('_', '-')} does not apply to --optimizer {opt} (only to {allowed}).")
    if args.coords is not None and args.coords not in COORDS[opt]:
        raise UsageError(
            f"--coords {args.coords} does not apply to --optimizer {opt}; choose from {', '.join(COORDS[opt])}."
        )
    if opt in _APPLIES["state"] and args.state is None:
        raise UsageError(f"--optimizer {opt} needs --state STATE.npz (keys such as grad and exp_avg_sq/square_avg).")


def _run_operator(args: argparse.Namespace) -> int:
    _check_operator_flags(args)
    H = _load_matrix_arg(args.hessian, "--hessian ", args.max_dim)
    state = None
    if args.state is not None:
        try:
            state = load_state_npz(args.state)
        except MatrixLoadError as err:
            raise MatrixLoadError(f"--state {args.state}: {err}") from None
    op = update_operator(
        args.optimizer,
        H,
        lr=args.lr,
        momentum=args.momentum,
        betas=(args.beta1, args.beta2),
        eps=args.eps,
        alpha=args.alpha,
        weight_decay=args.weight_decay,
        state=state,
        step=args.step,
        coords=args.coords,
        scaling=args.scaling,
    )
    save_matrix(args.out, op.J)
    layout = ", ".join(f"{name}[{a}:{b}]" for name, a, b in op.layout)
    print(_one_line(f"wrote {args.out}: J of shape {op.J.shape}, layout {layout}; {op.description}"))
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------------------------
# analyze


def _add_analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("matrix", metavar="M", help="square matrix file (.npy, .csv, .txt, .mtx)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a readable summary")
    p.add_argument("--out", metavar="FILE", help="write the output to FILE instead of stdout")
    p.add_argument("--show", type=int, default=20, metavar="K", help="eigenvalues listed in the text summary")
    p.add_argument("--max-dim", type=int, default=MAX_MATRIX_DIM, help="largest accepted n")
    p.add_argument("--cluster-tol", type=float, default=1e-8, help="relative eigenvalue gap defining clusters")


def analysis_dict(M: np.ndarray, *, cluster_tol: float = 1e-8) -> dict[str, Any]:
    """Spectral diagnostics of ``M`` (shape (n, n)) as a plain dict (the ``analyze --json`` payload before encoding).

    Keys: ``n``, ``dtype``, ``method``, ``eigenvalues`` (complex, decreasing modulus), ``spectral_radius``,
    ``rho_plus`` (over non-escape eigenvalues), ``eigenvalue_classes``, ``kappa_v`` (cond_2 of V with unit
    2-norm eigenvector columns), ``kappa_status``, ``kappa_v_cluster``, ``clusters``, ``eigval_condition``
    (1/|y^H x|, unit left/right vectors), ``departure`` (Henrici, Frobenius norm), ``departure_rel``
    (departure / ||M||_F), ``normality_residual`` (||M M^H - M^H M||_F / ||M||_F^2).
    """
    from nnspec_core.spectra import classify_eigenvalues, rho_plus, spectrum

    res = spectrum(M, cluster_tol=cluster_tol)
    classes = classify_eigenvalues(res.eigenvalues)
    return {
        "n": int(M.shape[0]),
        "dtype": str(M.dtype),
        "method": res.method,
        "eigenvalues": res.eigenvalues,
        "spectral_radius": res.spectral_radius,
        "rho_plus": rho_plus(res.eigenvalues, classes),
        "eigenvalue_classes": [str(c) for c in classes],
        "kappa_v": res.kappa_V,
        "kappa_status": res.kappa_status,
        "kappa_v_cluster": res.kappa_V_cluster,
        "clusters": [list(c) for c in res.clusters],
        "eigval_condition": res.eigval_condition,
        "departure": res.departure,
        "departure_rel": res.departure_rel,
        "normality_residual": res.normality_residual,
    }


def _format_summary(name: str, a: dict[str, Any], show: int) -> str:
    n = a["n"]
    lines = [
        f"matrix {name}: {n}x{n} {a['dtype']} (solver: {a['method']})",
        f"spectral radius rho          {a['spectral_radius']:.10g}",
        f"rho_+ (without escapes)      {a['rho_plus']:.10g}",
        f"kappa(V)                     {a['kappa_v']:.6g}  [{a['kappa_status']}]"
        "  (cond_2 of V, unit 2-norm eigenvector columns)",
        f"kappa(V), cluster-aware      {a['kappa_v_cluster']:.6g}  ({len(a['clusters'])} eigenvalue cluster(s))",
        f"departure (Henrici)          {a['departure']:.6g}  (relative to ||M||_F: {a['departure_rel']:.6g})",
        f"normality residual           {a['normality_residual']:.6g}  (||MM^H - M^H M||_F / ||M||_F^2)",
        f"eigenvalues (decreasing modulus; cond = 1/|y^H x|), {min(show, n)} of {n}:",
        f"  {'#':>5}  {'Re':>14}  {'Im':>14}  {'|mu|':>12}  {'cond':>10}  class",
    ]
    for i, (mu, c, cls) in enumerate(
        zip(a["eigenvalues"], a["eigval_condition"], a["eigenvalue_classes"], strict=True)
    ):
        if i >= show:
            lines.append(f"  ... {n - show} more (use --show {n} or --json)")
            break
        lines.append(f"  {i:>5}  {mu.real:>14.8g}  {mu.imag:>14.8g}  {abs(mu):>12.8g}  {c:>10.4g}  {cls}")
    return "\n".join(lines) + "\n"


def _run_analyze(args: argparse.Namespace) -> int:
    if args.show < 0:
        raise UsageError(f"--show must be >= 0; got {args.show}.")
    M = _load_matrix_arg(args.matrix, "", args.max_dim)
    a = analysis_dict(M, cluster_tol=args.cluster_tol)
    if args.json:
        text = json.dumps(to_jsonable(a), allow_nan=False) + "\n"
    else:
        text = _format_summary(args.matrix, a, args.show)
    _write_text(args.out, text)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------------------------
# registry and entry point

#: Registered commands, in help order. Other modules add one entry each (see the module docstring).
SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "operator", "build the update operator J of an optimizer and write it", _add_operator_arguments, _run_operator
    ),
    Subcommand(
        "analyze",
        "spectral diagnostics of a square matrix (kappa(V), departure, ...)",
        _add_analyze_arguments,
        _run_analyze,
    ),
    Subcommand(
        "figure",
        "write a Matrix Explorer figure (spectrum, transient, fov) of a matrix file",
        "nnspec_core.explorer:add_figure_arguments",
        "nnspec_core.explorer:run_figure",
    ),
    Subcommand(
        "study",
        "run a phase study (grid of training runs) and write its statistics and claims tables",
        "nnspec_core.studies:add_cli_arguments",
        "nnspec_core.studies:run_cli",
    ),
    Subcommand(
        "train",
        "train a small network with per-step operator analysis and write the Live Training bundle",
        "nnspec_core.live:add_cli_arguments",
        "nnspec_core.live:run_cli",
    ),
    Subcommand(
        "lab",
        "Operator Lab figures and data for one setting",
        "nnspec_core.lab_figures:add_cli_arguments",
        "nnspec_core.lab_figures:run_cli",
    ),
)


def build_parser(selected: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The argparse parser and its subparsers; only ``selected`` (or all if None) get their arguments."""
    from nnspec_core import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Non-normal spectral diagnostics of optimizer update operators.",
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers = {}
    for cmd in SUBCOMMANDS:
        sp = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.help,
            formatter_class=_HelpFormatter,
            allow_abbrev=False,
        )
        if selected is None or selected == cmd.name:
            _resolve(cmd.add_arguments)(sp)
        subparsers[cmd.name] = sp
    return parser, subparsers


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _error(msg: str) -> None:
    print(f"{PROG}: error: {_one_line(msg)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser, subparsers = build_parser(selected if selected in {c.name for c in SUBCOMMANDS} else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage/help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    cmd = next(c for c in SUBCOMMANDS if c.name == args.command)
    try:
        return int(_resolve(cmd.run)(args) or EXIT_OK)
    except UsageError as err:
        subparsers[cmd.name].print_usage(sys.stderr)
        print(f"{PROG} {cmd.name}: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): quietly stop
        _silence_stdout()
        return EXIT_INPUT
    except (MatrixLoadError, ValueError, TypeError, OSError) as err:
        if args.debug:
            raise
        if isinstance(err, OSError) and err.filename is not None and err.strerror:
            _error(f"cannot access {err.filename}: {err.strerror}.")
        else:
            _error(str(err) or type(err).__name__)
        return EXIT_INPUT
    except KeyboardInterrupt:
        _error("interrupted.")
        return EXIT_INTERRUPT
    except Exception as err:  # noqa: BLE001 - last resort: one line instead of a traceback
        if args.debug:
            raise
        _error(f"internal error ({type(err).__name__}): {err} (rerun with --debug for the traceback)")
        return EXIT_INTERNAL
