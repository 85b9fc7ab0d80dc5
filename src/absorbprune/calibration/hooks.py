"""What a calibration forward accumulates per linear, as forward pre-hooks on its input: the sum
of squares of each input channel (Wanda's norms, OWL's and DLP's scores) and the input Hessian
(SparseGPT). One place for both: the calibration statistics and the pruners hook the same way."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Hessian", "SquareSum"]


class SquareSum:
    """Forward pre-hook accumulating sum over tokens of x_j^2 (fp32) for one linear's input."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.sq_sum = torch.zeros(in_features, dtype=torch.float32, device=device)
        self.n_tokens = 0

    def __call__(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().float().reshape(-1, args[0].shape[-1])  # (tokens, C_in)
        self.sq_sum += x.pow(2).sum(dim=0)
        self.n_tokens += x.shape[0]


class Hessian:
    """Forward pre-hook accumulating H = (2 / n_tokens) sum_t x_t x_t^T (fp32) for one linear."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.h = torch.zeros(in_features, in_features, dtype=torch.float32, device=device)
        self.n_tokens = 0

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().float().reshape(-1, args[0].shape[-1])  # (tokens, C_in)
        n = x.shape[0]
        self.h *= self.n_tokens / (self.n_tokens + n)
        self.n_tokens += n
        x = x * math.sqrt(2 / self.n_tokens)
        self.h += x.T @ x
