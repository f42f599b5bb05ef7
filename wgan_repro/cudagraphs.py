"""A run's random generator and, on CUDA, its critic and generator steps captured as CUDA graphs."""
from __future__ import annotations

import torch

from .config import TrainConfig


def run_generator(cfg: TrainConfig, device: torch.device) -> torch.Generator:
    """The run's own random generator, made right after its models were initialised from the global
    RNG: on the CPU it continues the global RNG's state (so the numbers are those of a loop drawing
    from the global RNG), on CUDA it is seeded with cfg.seed (as torch.manual_seed seeds CUDA)."""
    if device.type == "cpu":
        g = torch.Generator()
        g.set_state(torch.get_rng_state())
        return g
    return torch.Generator(device=device).manual_seed(cfg.seed)


def uses_graphs(cfg: TrainConfig, device: torch.device) -> bool:
    """CUDA graphs for this run: graphs='auto' on a CUDA device, with data the device can index."""
    return cfg.graphs == "auto" and device.type == "cuda"


class CapturedSteps:
    """A run's critic step and generator step captured as two CUDA graphs on the run's own stream
    (the data gather, the noise, the forward and backward passes, the penalty's double backward,
    the optimiser step and the clipping, all inside), replayed `critic_steps_for(...)` times and once.
    The epoch's permutation is refreshed outside the graph, once per epoch."""

    def __init__(self, r):
        self.r = r
        s = r.cuda_stream
        torch.cuda.current_stream(r.device).wait_stream(s)
        s.wait_stream(torch.cuda.current_stream(r.device))
        self.critic_graph, self.generator_graph = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        for g in (self.critic_graph, self.generator_graph):
            g.register_generator_state(r.rng)
        r.stream.prepare_static()
        with torch.cuda.graph(self.critic_graph, stream=s):
            self.critic_out = r.critic_body(r.stream.gather())
        with torch.cuda.graph(self.generator_graph, stream=s, pool=self.critic_graph.pool()):
            fake, loss_g = r.generator_body()
            r.opt_g.step()
            self.generator_out = (fake, loss_g)

    def iteration(self, n_steps: int) -> tuple:
        for _ in range(n_steps):
            self.r.stream.advance()
            self.critic_graph.replay()
        self.generator_graph.replay()
        real, fake_d, step = self.critic_out
        fake, loss_g = self.generator_out
        return real, fake, step, loss_g


__all__ = ["CapturedSteps", "run_generator", "uses_graphs"]
