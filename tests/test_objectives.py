import math

import pytest
import torch
from torch import nn

from wgan_repro import objectives as O
from wgan_repro.train import critic_steps_for, critic_steps_total


class Linear(nn.Module):
    """f(x) = w . x (flattened), a critic whose input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x):
        return x.flatten(1) @ self.w.flatten()


def test_wgan_losses_signs_and_values():
    f_real, f_fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 1.0])
    assert O.wasserstein_estimate(f_real, f_fake).item() == pytest.approx(3.0)
    assert O.wgan_critic_loss(f_real, f_fake).item() == pytest.approx(-3.0)  # critic minimises -W
    assert O.wgan_generator_loss(f_fake).item() == pytest.approx(0.0)
    assert O.wgan_generator_loss(torch.tensor([5.0])).item() == pytest.approx(-5.0)


def test_gan_losses_values():
    zero = torch.zeros(4)
    # D = 1/2 everywhere: -log(1/2) - log(1/2)
    assert O.gan_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    big = torch.full((4,), 20.0)
    assert O.gan_discriminator_loss(big, -big).item() == pytest.approx(0.0, abs=1e-6)
    # minimax G loss log(1 - D(G(z))) -> 0 when D(G(z)) -> 0 (saturation); non-saturating grows
    assert O.gan_generator_loss(-big, non_saturating=False).item() == pytest.approx(0.0, abs=1e-6)
    assert O.gan_generator_loss(-big, non_saturating=True).item() == pytest.approx(20.0, rel=1e-6)


def test_minimax_generator_gradient_vanishes_where_non_saturating_does_not():
    logit = torch.tensor([-15.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(O.gan_generator_loss(logit, non_saturating=False), logit)
    (g_ns,) = torch.autograd.grad(O.gan_generator_loss(logit, non_saturating=True), logit)
    assert abs(g_mm.item()) < 1e-6 and abs(g_ns.item()) > 0.99


def test_penalty_zero_for_unit_norm_linear_critic():
    x = torch.randn(16, 3, 4, 4)
    w = torch.randn(3 * 4 * 4)
    critic = Linear(w / w.norm())
    penalty, norms = O.gradient_penalty(critic, x, torch.randn_like(x), weight=10.0)
    assert penalty.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(norms, torch.ones(16), atol=1e-5)


@pytest.mark.parametrize("scale", [0.5, 2.0, 3.0])
def test_penalty_equals_lambda_norm_minus_one_squared(scale):
    x = torch.randn(8, 5)
    w = torch.randn(5)
    critic = Linear(scale * w / w.norm())
    penalty, _ = O.gradient_penalty(critic, x, torch.randn_like(x), weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * (scale - 1) ** 2, rel=1e-4)
    one_sided, _ = O.gradient_penalty(critic, x, torch.randn_like(x), weight=10.0, one_sided=True)
    assert one_sided.item() == pytest.approx(10.0 * max(scale - 1, 0) ** 2, rel=1e-4, abs=1e-6)


def test_penalty_norm_over_all_non_batch_dims_with_one_eps_per_example():
    torch.manual_seed(0)
    real, fake = torch.zeros(64, 2, 3, 3), torch.ones(64, 2, 3, 3)
    x_hat = O.interpolate(real, fake)
    # one eps per example: every entry of an example equals the same 1 - eps
    per_example = x_hat.flatten(1)
    assert torch.allclose(per_example, per_example[:, :1].expand_as(per_example))
    assert per_example[:, 0].std() > 0.1  # eps differ across examples


def test_penalty_is_finite_at_zero_gradient():
    critic = Linear(torch.zeros(4))
    x = torch.randn(8, 4)
    penalty, norms = O.gradient_penalty(critic, x, torch.randn_like(x), weight=10.0)
    penalty.backward()
    assert penalty.item() == pytest.approx(10.0, rel=1e-5)
    assert torch.isfinite(critic.w.grad).all()


def test_clip_weights_after_a_critic_step():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.RMSprop(critic.parameters(), lr=0.5)  # big step: weights leave [-c, c]
    loss = O.wgan_critic_loss(critic(torch.randn(32, 2) + 3).view(-1), critic(torch.randn(32, 2)).view(-1))
    loss.backward()
    opt.step()
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.01
    O.clip_weights(critic, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in critic.parameters())


def test_critic_schedule():
    steps = [critic_steps_for(i, 5, "wgan") for i in range(1100)]
    assert steps[:25] == [100] * 25
    assert steps[25:500] == [5] * 475
    assert steps[500] == 100 and steps[1000] == 100 and steps[501] == 5
    assert {critic_steps_for(i, 5, "constant") for i in range(600)} == {5}


@pytest.mark.parametrize("schedule", ["wgan", "constant"])
def test_critic_steps_total_is_the_sum_of_the_schedule(schedule):
    for n in (0, 1, 24, 25, 26, 500, 501, 1000, 1001, 2499):
        assert critic_steps_total(n, 5, schedule) == sum(critic_steps_for(i, 5, schedule) for i in range(n)), n
