"""The gradient checker itself: it must fail on wrong derivatives (including errors that cancel
under sum() and wrong second derivatives), report where, and pass correct ones."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given

import minigrad as mg
from minigrad import Function, GradcheckError, Tensor, gradcheck, gradgradcheck
from minigrad.ops import constant
from minigrad.testing import shapes, tensors


class Square(Function):
    """x^2, correct: the reference the broken variants below deviate from."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.data**2

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * 2 * a


class SquareOffByOnePercent(Square):
    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * 2.02 * a


class SquarePermutedGradient(Square):
    """Right gradient for the output sum (a ones seed is permutation-invariant), wrong Jacobian:
    the gradient of each output element is sent to a neighbouring input."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        flat = grad_output.reshape(-1)
        swapped = mg.concatenate([flat[1:2], flat[0:1], flat[2:]]).reshape(a.shape)
        return swapped * 2 * a


class Cube(Function):
    """x^3, correct: the reference for the two broken second derivatives below."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.data**3

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * 3 * a * a


class CubeDetachedBackward(Cube):
    """x^3 whose backward has the right value but is built from a constant: first derivatives
    are right, second derivatives (which differentiate the backward) are wrong."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * constant(3 * a.data**2, a.dtype)


class CubeWrongSecondDerivative(Cube):
    """x^3 whose backward is differentiable but its derivative is off: 3 x^2 is computed as
    3 x * x0 with x0 frozen, so d/dx of it is 3 x0 instead of 6 x."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * 3 * a * constant(a.data, a.dtype)


class ScaleSecondInputWrong(Function):
    """a * b with the derivative in b off by 1%; the one in a right."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data * b.data

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        return grad_output * b, grad_output * a * 1.01


def x(values, requires_grad=True) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def test_off_by_one_percent_is_caught():
    with pytest.raises(GradcheckError):
        gradcheck(SquareOffByOnePercent.apply, [x([1.0, 2.0, 3.0])])


@given(tensors(shapes(min_dims=1), elements=(0.5, 3.0)))
def test_off_by_one_percent_is_caught_on_every_drawn_input(a):
    with pytest.raises(GradcheckError):
        gradcheck(SquareOffByOnePercent.apply, [a])


def test_error_that_cancels_under_sum_is_caught():
    a = x([1.0, 2.0, 3.0])
    # The mistake is invisible to a check that only differentiates sum(f(x)) ...
    (grad_of_sum,) = mg.grad(SquarePermutedGradient.apply(a).sum(), a)
    np.testing.assert_allclose(grad_of_sum.data, [2.0, 4.0, 6.0])
    # ... while the row for output element 0 should be [2, 0, 0] and is not:
    (row,) = mg.grad(SquarePermutedGradient.apply(a), a, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(row.data, [0.0, 4.0, 0.0])
    # ... but the full Jacobian exposes it.
    with pytest.raises(GradcheckError):
        gradcheck(SquarePermutedGradient.apply, [a])


def test_error_is_caught_above_the_full_jacobian_size_by_random_projections():
    a = Tensor(np.linspace(0.5, 3.0, 300), requires_grad=True)
    with pytest.raises(GradcheckError, match="projection"):
        gradcheck(SquarePermutedGradient.apply, [a])
    assert gradcheck(Square.apply, [a])


def test_wrong_second_derivative_passes_gradcheck_but_fails_gradgradcheck():
    for broken in (CubeDetachedBackward, CubeWrongSecondDerivative):
        a = x([0.5, -1.5, 2.0])
        assert gradcheck(broken.apply, [a])
        with pytest.raises(GradcheckError):
            gradgradcheck(broken.apply, [a])
    assert gradgradcheck(Cube.apply, [x([0.5, -1.5, 2.0])])  # the forward they share is fine


def _numbers_after(label: str, message: str) -> float:
    match = re.search(label + r" (?:np\.float64\()?(-?[0-9.e+-]+)", message)
    assert match, f"no {label!r} value in: {message}"
    return float(match.group(1))


def test_failure_message_names_input_element_and_both_values():
    a = x([[1.0, 2.0], [3.0, 4.0]])
    b = x([[0.5, 1.5], [2.5, -1.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(ScaleSecondInputWrong.apply, [a, b])
    message = str(info.value)
    assert "input 1" in message  # b, the second input, is the wrong one
    # The first output element whose row is wrong is element 0: d(a*b)[0,0]/db[0,0] = a[0,0].
    assert "(0, 0)" in message
    assert "output element 0" in message
    assert _numbers_after("analytical", message) == pytest.approx(1.01, rel=1e-9)
    assert _numbers_after("numerical", message) == pytest.approx(1.0, rel=1e-6)


def test_failure_message_for_the_first_input():
    a = x([1.0, 2.0, 3.0])
    with pytest.raises(GradcheckError, match=r"input 0.*\(0,\)") as info:
        gradcheck(SquareOffByOnePercent.apply, [a])
    assert _numbers_after("analytical", str(info.value)) == pytest.approx(2.02)
    assert _numbers_after("numerical", str(info.value)) == pytest.approx(2.0, rel=1e-6)


def test_float32_inputs_are_refused_with_an_explanation():
    a = Tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    with pytest.raises(ValueError, match=r"float32.*float64"):
        gradcheck(Square.apply, [a])
    with pytest.raises(ValueError, match="float64"):
        gradgradcheck(Square.apply, [a])


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="requires grad"):
        gradcheck(Square.apply, [x([1.0], requires_grad=False)])


@given(tensors(elements=(-3.0, 3.0)))
def test_correct_functions_pass(a):
    assert gradcheck(Square.apply, [a])
    assert gradgradcheck(Square.apply, [a])
    assert gradcheck(lambda a: (a * a).tanh().sum(), [a])


def test_gradcheck_sees_a_tensor_reached_through_a_closure():
    """Inputs are perturbed in place (their .data rebound), so closures see the change."""
    weight = x([[1.0, -2.0], [0.5, 3.0]])
    layer = lambda inp: (inp @ weight).tanh()
    inp = x([0.3, -0.7])
    assert gradcheck(lambda inp, weight_again: layer(inp), [inp, weight])
    np.testing.assert_array_equal(weight.data, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_non_tensor_arguments_and_several_outputs():
    a = x([1.0, 2.0, 3.0, 4.0])
    assert gradcheck(lambda a, n: mg.split(a * a, n), [a, 2])
    with pytest.raises(GradcheckError):
        gradcheck(lambda a, n: (Square.apply(a), SquareOffByOnePercent.apply(a) * n), [a, 2])


# --- No silent passes: non-finite values, non-determinism, mutated inputs ---------------------


class SquareNanBackward(Square):
    """x^2 whose backward returns NaN: a check must never pass it."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * constant(np.full(a.shape, np.nan), a.dtype)


class SquareInfBackward(Square):
    """x^2 whose backward is +inf at the last element only."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        spoiled = np.where(np.arange(a.numel()).reshape(a.shape) == a.numel() - 1, np.inf, 0.0)
        return grad_output * 2 * a + constant(spoiled, a.dtype)


class Sqrt(Function):
    """sqrt with the right derivative: finite differences step below 0 near 0 and get NaN."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(invalid="ignore"):
            return np.sqrt(a.data)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output / (2 * a**0.5)


def test_a_nan_backward_is_caught_with_both_values():
    with pytest.raises(GradcheckError, match=r"analytical nan, numerical 2\.0"):
        gradcheck(SquareNanBackward.apply, [x([1.0, 2.0])])


def test_an_inf_on_either_side_is_caught():
    with pytest.raises(GradcheckError, match=r"input index \(2,\).*analytical inf"):
        gradcheck(SquareInfBackward.apply, [x([1.0, 2.0, 3.0])])
    near_overflow = x([1.0, 709.78271289])  # exp(x) is finite, exp(x + eps) is not
    with np.errstate(over="ignore"):
        with pytest.raises(GradcheckError, match=r"input index \(1,\).*numerical inf"):
            gradcheck(lambda a: a.exp(), [near_overflow])


def test_a_nan_numerical_derivative_is_caught_and_explained():
    a = x([4.0, 1e-7])  # sqrt(1e-7 - 1e-6) is NaN
    with pytest.raises(GradcheckError, match=r"input index \(1,\).*numerical nan.*not finite"):
        gradcheck(Sqrt.apply, [a])
    assert gradcheck(Sqrt.apply, [x([4.0, 0.5])])


def test_a_non_finite_second_derivative_is_caught():
    class CubeNanSecondDerivative(Cube):
        @staticmethod
        def backward(ctx, grad_output):
            (a,) = ctx.saved_tensors
            return grad_output * 3 * a * a + 0 * (a * constant(np.full(a.shape, np.nan), a.dtype))

    with pytest.raises(GradcheckError):
        gradcheck(CubeNanSecondDerivative.apply, [x([0.5, 2.0])])
    with pytest.raises(GradcheckError, match="gradgradcheck.*nan"):
        gradgradcheck(Cube.apply, [x([0.5, 2.0])], [x([np.nan, 1.0])])


def test_a_non_deterministic_function_is_reported_as_such():
    rng = np.random.default_rng(0)
    noisy = lambda a: a * (1 + 1e-3 * rng.standard_normal())
    with pytest.raises(GradcheckError, match="not deterministic") as info:
        gradcheck(noisy, [x([1.0, 2.0])])
    assert "numerical" not in str(info.value)  # no meaningless huge finite difference
    with pytest.raises(GradcheckError, match="gradgradcheck: .*not deterministic"):
        gradgradcheck(noisy, [x([1.0, 2.0])])
    tiny = lambda a: a * (1 + 1e-14 * rng.standard_normal())
    assert gradcheck(tiny, [x([1.0, 2.0])], nondet_tol=1e-12)


def test_a_non_deterministic_backward_is_reported_as_such():
    rng = np.random.default_rng(0)

    class NoisyBackward(Square):
        @staticmethod
        def backward(ctx, grad_output):
            (a,) = ctx.saved_tensors
            return grad_output * 2 * a * (1 + 1e-9 * rng.standard_normal())

    with pytest.raises(GradcheckError, match="backward.*not deterministic"):
        gradcheck(NoisyBackward.apply, [x([1.0, 2.0])])
    assert gradcheck(NoisyBackward.apply, [x([1.0, 2.0])], nondet_tol=1e-6)


def test_a_function_that_mutates_its_input_is_caught_and_the_input_restored():
    def bumps_in_place(a):
        a.data[0] += 1.0  # the derivative is still right, but the input changes under the check
        return a * 2

    a = x([1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"changed input 0 in place.*index \(0,\)"):
        gradcheck(bumps_in_place, [a])
    np.testing.assert_array_equal(a.data, [1.0, 2.0])

    def rebinds(a, b):
        b.data = b.data * 0
        return a * b

    a, b = x([1.0, 2.0]), x([3.0, 4.0])
    with pytest.raises(GradcheckError, match="changed input 1"):
        gradcheck(rebinds, [a, b])
    np.testing.assert_array_equal(b.data, [3.0, 4.0])
    with pytest.raises(GradcheckError, match="gradgradcheck: .*changed input 0"):
        gradgradcheck(bumps_in_place, [x([1.0, 2.0])])


def test_raise_exception_false_returns_false_instead():
    a = x([1.0, 2.0, 3.0])
    assert gradcheck(SquareOffByOnePercent.apply, [a], raise_exception=False) is False
    assert gradcheck(SquareNanBackward.apply, [a], raise_exception=False) is False
    assert gradcheck(Square.apply, [a], raise_exception=False) is True
    assert gradgradcheck(CubeWrongSecondDerivative.apply, [a], raise_exception=False) is False
    assert gradgradcheck(Cube.apply, [a], raise_exception=False) is True
    with pytest.raises(ValueError, match="requires grad"):  # misuse still raises
        gradcheck(Square.apply, [x([1.0], requires_grad=False)], raise_exception=False)
