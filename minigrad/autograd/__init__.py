"""Autograd beyond `backward()`, as `torch.autograd`: `grad()` (gradients returned instead of
accumulated), tensor hooks (`hooks`: `Tensor.register_hook`, `grad_tensor`), `once_differentiable`
for Functions, and `functional` (jacobian, hessian, vjp, jvp, hvp, vhp).
"""

from . import functional, hooks
from .function import once_differentiable
from .gradients import grad

__all__ = ["functional", "grad", "hooks", "once_differentiable"]
