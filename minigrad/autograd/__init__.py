"""Autograd beyond `backward()`, as `torch.autograd`: `grad()` (gradients returned instead of
accumulated), `once_differentiable` for Functions, and `functional` (jacobian, hessian, vjp, jvp,
hvp, vhp).
"""

from . import functional
from .function import once_differentiable
from .gradients import grad

__all__ = ["functional", "grad", "once_differentiable"]
