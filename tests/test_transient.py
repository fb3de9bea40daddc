"""Tests for nnspec_core.transient against numpy.linalg.matrix_power + 2-norm and scipy.linalg.expm."""

import math
import pickle

import numpy as np
import pytest
import scipy.linalg as sla

from nnspec_core.blocks import block_basis, blocks_to_dense, momentum_blocks
from nnspec_core.transient import TransientResult, expm_norms, power_norms, transient_growth


def ref_norms(A, ks):
    return np.array([np.linalg.norm(np.linalg.matrix_power(A, int(k)), 2) for k in ks])


def nonnormal(rng, n, rho=0.97, complex_=False):
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    if complex_:
        A = A + 1j * rng.standard_normal((n, n)) / np.sqrt(n)
    A = A + np.diag(np.ones(n - 1), 1)  # strong shear: transient growth
    return A * (rho / np.abs(np.linalg.eigvals(A)).max())


def jordan(m, lam):
    return lam * np.eye(m) + np.diag(np.ones(m - 1), 1)


CASES = {
    "small_direct": lambda rng: nonnormal(rng, 12),
    "lanczos_real": lambda rng: nonnormal(rng, 60),
    "lanczos_complex": lambda rng: nonnormal(rng, 52, complex_=True),
    "jordan_defective": lambda rng: np.kron(np.eye(13), jordan(5, 0.9)) + 1e-3 * np.eye(65, k=7),
    "growing": lambda rng: nonnormal(rng, 70, rho=1.03),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_power_norms_match_matrix_power(rng, name):
    A = CASES[name](rng)
    got = power_norms(A, 80)
    assert got.shape == (81,)
    np.testing.assert_allclose(got, ref_norms(A, range(81)), rtol=1e-8)


@pytest.mark.parametrize("k_max", [4, 15, 16, 17, 64, 100, 200])
def test_power_digit_decomposition_edge_cases(rng, k_max):
    # k is written in base s = ceil((K+1)^(1/L)); K at and around powers of s exercises every digit path
    A = nonnormal(rng, 50)
    np.testing.assert_allclose(power_norms(A, k_max), ref_norms(A, range(k_max + 1)), rtol=1e-8)


def test_close_top_singular_values_hard_case(rng):
    # J = Q (A (+) c U A U^T) Q^T with c = 1 + 1e-4: every singular value of J^k comes in a pair
    # (sigma, c^k sigma), so the top two are within 1e-4 k relatively; Lanczos must return the larger one
    A = nonnormal(rng, 30)
    U = np.linalg.qr(rng.standard_normal((30, 30)))[0]
    J = sla.block_diag(A, (1 + 1e-4) * U @ A @ U.T)
    Q = np.linalg.qr(rng.standard_normal((60, 60)))[0]
    J = Q @ J @ Q.T
    ks = range(61)
    ref = ref_norms(J, ks)
    A_ref = ref_norms(A, ks)
    assert np.all(ref[1:] / A_ref[1:] - 1 <= 1e-4 * np.arange(1, 61) * 1.01)  # the pair really is that close
    np.testing.assert_allclose(power_norms(J, 60), ref, rtol=1e-8)


def test_adam_full_operator(rng):
    from nnspec_core.operators import update_operator

    n = 20  # state dimension 3n = 60: Lanczos path
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    H = (Q * np.logspace(-2, 1, n)) @ Q.T
    g = 0.1 * rng.standard_normal(n)
    state = {"grad": g, "exp_avg": 0.1 * g, "exp_avg_sq": g * g + 1e-4}
    J = update_operator("adam", H, lr=1e-2, state=state, coords="full", step=50).J
    assert J.shape == (3 * n, 3 * n)
    np.testing.assert_allclose(power_norms(J, 120), ref_norms(J, range(121)), rtol=1e-8)
    ks = [0, 1, 50, 333, 1000]
    np.testing.assert_allclose(power_norms(J, 0, k=ks), ref_norms(J, ks), rtol=1e-8)


@pytest.mark.parametrize("complex_", [False, True])
def test_log_spaced_k_by_repeated_squaring(rng, complex_):
    A = nonnormal(rng, 60, rho=0.999, complex_=complex_)
    ks = np.unique(np.round(np.logspace(0, 3.3, 25)).astype(int))
    np.testing.assert_allclose(power_norms(A, 0, k=ks), ref_norms(A, ks), rtol=1e-8)
    np.testing.assert_allclose(power_norms(A, 0, k=[7, 0, 7, 3]), ref_norms(A, [7, 0, 7, 3]), rtol=1e-8)


@pytest.mark.parametrize("optimizer", ["heavy_ball", "nesterov"])
def test_blocks_path_equals_dense(rng, optimizer):
    lam = rng.uniform(0.01, 2.0, 30)
    B = momentum_blocks(optimizer, lam, lr=0.9, momentum=0.9)
    Q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    U = block_basis(Q)
    J = U @ blocks_to_dense(B) @ U.T
    np.testing.assert_allclose(power_norms(None, 60, blocks=B), ref_norms(J, range(61)), rtol=1e-9)
    ks = [0, 5, 64, 1000]
    np.testing.assert_allclose(power_norms(None, 0, blocks=B, k=ks), ref_norms(J, ks), rtol=1e-9)
    r_b = transient_growth(None, 60, blocks=B)
    r_d = transient_growth(J, 60)
    np.testing.assert_allclose(r_b.norms, r_d.norms, rtol=1e-8)
    assert r_b.kappa_V == pytest.approx(r_d.kappa_V, rel=1e-6)
    assert r_b.kreiss_lower == pytest.approx(r_d.kreiss_lower, rel=1e-6)


@pytest.mark.parametrize("name", ["small_direct", "lanczos_real", "lanczos_complex"])
def test_bounds_bracket_the_norms(rng, name):
    A = CASES[name](rng)
    r = transient_growth(A, 400)
    assert isinstance(r, TransientResult)
    assert np.all(r.norms <= r.upper * (1 + 1e-9))
    assert np.all(r.norms >= r.rho**r.k * (1 - 1e-9))  # ||J^k|| >= rho^k
    assert r.kreiss_lower <= r.peak * (1 + 1e-9) <= r.kreiss_upper_linear
    assert r.peak == r.norms.max() and r.norms[r.peak_k] == r.peak
    assert r.norms[0] == pytest.approx(1.0)
    assert pickle.loads(pickle.dumps(r)).peak == r.peak


def test_defective_gives_infinite_kappa_and_upper():
    r = transient_growth(jordan(3, 0.5), 30)
    assert r.kappa_V == math.inf and np.all(np.isinf(r.upper))
    np.testing.assert_allclose(r.norms, ref_norms(jordan(3, 0.5), range(31)), rtol=1e-10)
    assert r.kreiss_lower <= r.peak <= r.kreiss_upper_linear


def test_normal_matrix_norms_are_rho_power(rng):
    U, _ = np.linalg.qr(rng.standard_normal((50, 50)) + 1j * rng.standard_normal((50, 50)))
    lam = rng.uniform(0.1, 0.95, 50) * np.exp(2j * np.pi * rng.uniform(size=50))
    A = U @ np.diag(lam) @ U.conj().T
    r = transient_growth(A, 50)
    np.testing.assert_allclose(r.norms, np.abs(lam).max() ** r.k, rtol=1e-8)
    assert r.kappa_V == pytest.approx(1.0, abs=1e-8)
    assert r.kreiss_lower == pytest.approx(1.0, abs=1e-9)


def test_overflow_gives_inf():
    v = power_norms(np.array([[1e200, 1.0], [0.0, 1.0]]), 3)
    assert v[0] == 1.0 and np.isinf(v[2]) and np.isinf(v[3])


@pytest.mark.parametrize("sampled", [False, True])
def test_overflow_on_lanczos_path_gives_inf(rng, sampled):
    # n > DIRECT_MAX_N and rho ~ 1e30: ||J^k|| overflows float64 from k ~ 11 on; finite values stay exact
    A = 1e30 * nonnormal(rng, 60)
    ks = np.arange(21) if not sampled else np.array([0, 1, 3, 5, 9, 12, 20])
    got = power_norms(A, 20) if not sampled else power_norms(A, 0, k=ks)
    with np.errstate(over="ignore", invalid="ignore"):
        powers = [np.linalg.matrix_power(A, int(k)) for k in ks]
    ref = np.array([np.linalg.norm(P, 2) if np.all(np.isfinite(P)) else np.inf for P in powers])
    assert np.any(np.isinf(ref)) and np.any(np.isfinite(ref[1:]))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-8)


@pytest.mark.parametrize("sampled", [False, True])
def test_single_blas_thread_path_is_exact_and_restores_threads(rng, sampled, monkeypatch):
    # n >= 256: powers and Lanczos run under threadpool_limits(1); values exact, the caller's limits restored
    from threadpoolctl import threadpool_info, threadpool_limits

    import nnspec_core.transient as tr

    seen, engine = [], tr._gk_sigma_max

    def spy(*args, **kwargs):
        seen.append(max(d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"))
        return engine(*args, **kwargs)

    monkeypatch.setattr(tr, "_gk_sigma_max", spy)
    A = nonnormal(rng, 260)
    ks = np.arange(25) if not sampled else np.array([0, 1, 2, 5, 9, 24])
    with threadpool_limits(limits=2, user_api="blas"):  # a caller that allows 2 BLAS threads
        before = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
        got = power_norms(A, 24) if not sampled else power_norms(A, 0, k=ks)
        assert [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"] == before
    assert 2 in before and seen == [1]
    np.testing.assert_allclose(got, ref_norms(A, ks), rtol=1e-8)


def test_k0_is_one_without_svd(rng, monkeypatch):
    # ||J^0|| = ||I|| = 1 exactly; the Lanczos path must not SVD the identity (issue 4: 63 ms at n = 771)
    import nnspec_core.transient as tr

    A = nonnormal(rng, 60)
    expected = ref_norms(A, [0, 1, 2, 7, 30])

    def no_svd(*args, **kwargs):
        raise AssertionError("svdvals called")

    monkeypatch.setattr(tr.sla, "svdvals", no_svd)
    got = power_norms(A, 0, k=[0, 1, 2, 7, 30])
    assert got[0] == 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert power_norms(A, 40)[0] == 1.0


@pytest.fixture(scope="module")
def adam_full_trainer_J():
    from nnspec_core.training import TrainConfig, Trainer

    tr = Trainer(TrainConfig(optimizer="adam", lr=0.01, coords="full", width=8, steps=15), analyse=False)
    while tr.t < 10:
        tr.step_once()
    return tr.current_operator()[0].J


def test_real_adam_full_trainer_operator(adam_full_trainer_J):
    # the operator the live trainer analyses (issue 3 at width 64, n = 771), here at width 8 (n = 99 > DIRECT_MAX_N)
    J = adam_full_trainer_J
    assert J.shape[0] > 48 and J.shape[0] % 3 == 0
    P, ref = np.eye(J.shape[0]), [1.0]
    for _ in range(120):
        P = P @ J
        ref.append(np.linalg.norm(P, 2))
    ref = np.array(ref)
    np.testing.assert_allclose(power_norms(J, 120), ref, rtol=1e-9)
    ks = [0, 1, 2, 3, 4, 6, 8, 10, 12, 17, 25, 35, 50]  # the live trainer's sampled call (issue 4)
    np.testing.assert_allclose(power_norms(J, 50, k=ks), ref[ks], rtol=1e-9)


def test_expm_norms(rng):
    A = rng.standard_normal((8, 8)) - 3 * np.eye(8) + 4 * np.diag(np.ones(7), 1)
    t = np.array([0.0, 0.1, 0.5, 2.0, 5.0])
    ref = [np.linalg.norm(sla.expm(ti * A), 2) for ti in t]
    np.testing.assert_allclose(expm_norms(A, t), ref, rtol=1e-10)
    D = np.diag([-1.0, -0.2 + 1j])
    np.testing.assert_allclose(expm_norms(D, t), np.exp(-0.2 * t), rtol=1e-12)


def test_validation():
    with pytest.raises(ValueError, match="must contain only finite"):
        power_norms(np.array([[np.inf]]), 3)
    with pytest.raises(ValueError, match="k_max must be >= 0"):
        power_norms(np.eye(2), -1)
    with pytest.raises(ValueError, match="non-empty array of integers"):
        power_norms(np.eye(2), 3, k=[-1, 2])
    with pytest.raises(TypeError, match="k must be an array of non-negative integers"):
        power_norms(np.eye(2), 3, k=[0.5])
    with pytest.raises(ValueError, match="kappa_V must be >= 1"):
        transient_growth(np.eye(2), 3, kappa_V=0.5)
    with pytest.raises(ValueError, match="t must contain only finite"):
        expm_norms(np.eye(2), [np.nan])


def test_clustered_top_singular_values_converge_without_svd_fallback(rng, monkeypatch):
    """Symmetric J (n = 300) with eigenvalues evenly spaced in [0.5, 0.999]: ||J^k|| = 0.999^k in closed form,
    and for small k the top singular values of J^k are 0.17 % apart (k = 1 took more than 60 Lanczos steps).
    Every k must converge in Lanczos, with no exact-SVD fallback."""
    import nnspec_core.transient as tr

    n = 300
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    J = (Q * np.linspace(0.5, 0.999, n)) @ Q.T

    def no_svd(*args, **kwargs):
        raise AssertionError("exact-SVD fallback used")

    monkeypatch.setattr(tr.sla, "svdvals", no_svd)
    np.testing.assert_allclose(power_norms(J, 100), 0.999 ** np.arange(101), rtol=1e-9)


def test_two_batches_give_the_same_values_on_one_or_two_cores(rng, monkeypatch):
    """From 64 k on the Lanczos columns run as two interleaved batches: in two threads on two cores, one after
    the other on one core; the values are identical either way and match matrix_power."""
    import nnspec_core.transient as tr

    A = nonnormal(rng, 60, rho=0.99)
    ref = ref_norms(A, range(101))
    got = {}
    for cores in (1, 2):
        monkeypatch.setattr(tr, "_cores", lambda c=cores: c)
        got[cores] = power_norms(A, 100)
    np.testing.assert_array_equal(got[1], got[2])
    np.testing.assert_allclose(got[2], ref, rtol=1e-8)


@pytest.mark.parametrize("kmax", [5, 80, 200, 1000])
def test_formed_powers_are_the_same_with_or_without_a_thread_pool(rng, kmax):
    """All-k path: each level's powers are formed in doubling rounds, a round's products in a pool on two cores.
    Every factor is the power of A its digit says, the k's digits add up to k, and the pool changes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    import nnspec_core.transient as tr

    A, _ = np.linalg.qr(rng.standard_normal((12, 12)))  # orthogonal: powers neither decay nor grow
    powers = [np.eye(12)]
    for _ in range(kmax):
        powers.append(powers[-1] @ A)
    ks = np.arange(kmax + 1)
    plain = tr._formed_powers(A, ks)
    with ThreadPoolExecutor(2) as pool:
        pooled = tr._formed_powers(A, ks, pool)
    assert len(plain) == len(pooled)
    exponent = np.zeros(ks.size, dtype=int)
    for (P, cols), (Q, cols_q) in zip(plain, pooled, strict=True):
        np.testing.assert_array_equal(P, Q)
        np.testing.assert_array_equal(cols, cols_q)
        dist = [np.abs(P - Pe).max() for Pe in powers]  # the factor is A^e for the nearest power e
        e = int(np.argmin(dist))
        assert dist[e] < 1e-10 and e >= 1
        exponent[cols] += e
    np.testing.assert_array_equal(exponent, ks)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_huge_and_tiny_powers_keep_full_accuracy(rng, scale):
    """||(cA)^k|| = c^k ||A^k||: a diverging operator's norms up to ~1e300 (and decaying ones down to ~1e-300)
    stay finite and exact. The squares in the row norms, the Ritz values and the convergence test overflowed from
    ~1e154: norms came back inf, or converged early to 1e-7."""
    A = nonnormal(rng, 60, rho=0.9)
    base = power_norms(A, 10)
    got = power_norms(scale * A, 10)
    with np.errstate(over="ignore", under="ignore"):
        expect = base * scale ** np.arange(11.0)
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, expect, rtol=1e-9)
