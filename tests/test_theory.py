import math

import numpy as np
import pytest

from wgan_repro import theory


def test_emd_discrete_example_is_5():
    assert theory.emd((3, 2, 1, 4), (1, 2, 4, 3)) == pytest.approx(5.0, abs=1e-9)
    assert theory.emd((1, 0), (0, 1)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        theory.emd((1, 2), (1, 1))


def test_parallel_lines():
    for theta in (-0.5, 0.1, 2.0):
        d = theory.parallel_lines(theta)
        assert d == {"W": abs(theta), "JS": math.log(2), "KL": math.inf, "TV": 1.0}
    assert theory.parallel_lines(0.0) == {"W": 0.0, "JS": 0.0, "KL": 0.0, "TV": 0.0}


def test_optimal_discriminator():
    # equal variances: D* = 1/2 at the midpoint, sigmoid of a linear log-ratio elsewhere
    assert theory.optimal_discriminator(1.5, 0, 1, 3, 1) == pytest.approx(0.5)
    x = np.array([-1.0, 0.0, 4.0])
    expected = 1 / (1 + np.exp(-(4.5 - 3 * x)))  # log p_r - log p_g = (x-3)^2/2 - x^2/2
    assert np.allclose(theory.optimal_discriminator(x, 0, 1, 3, 1), expected)


def test_w1_between_shifted_gaussians_is_the_shift():
    assert theory.w1_gaussians_1d(0, 1, 3, 1) == pytest.approx(3.0, rel=1e-6)
