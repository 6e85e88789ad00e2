"""Dynamic loss scaling with the arrays an fp16 multi-GPU run has: fp16 and fp32 gradients on several devices.

CPU contexts cpu(0), cpu(1) stand in for the GPUs; fp16 NDArrays, multi_all_finite, the kvstore sum and the
multi-precision SGD update all run on the CPU with the same MXNet calls (only fp16 GEMM is missing).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from lib.train.kvstore import gradient_step
from lib.train.mixed_precision import LossScaler, all_finite

CPUS = [mx.cpu(0), mx.cpu(1)]


def _grads(bad=None):
    """fp16 and fp32 gradient-like arrays on two devices; `bad` = (index, value) poisons one element."""
    arrays = [mx.nd.ones((5,), ctx=ctx, dtype=dtype) for ctx in CPUS for dtype in ("float16", "float32")]
    if bad is not None:
        index, value = bad
        arrays[index][2] = value
    return arrays


def test_mixed_dtypes_in_one_multi_all_finite_call_is_what_mxnet_refuses():
    # the premise of all_finite's grouping: the kernel reads every input with the first one's dtype
    with pytest.raises(mx.MXNetError, match="data type do not match"):
        mx.nd.multi_all_finite(*_grads()[:2], num_arrays=2).asscalar()


def test_all_finite_over_fp16_fp32_and_two_devices():
    assert all_finite(_grads())
    assert not all_finite(_grads(bad=(2, float("inf"))))  # fp16 on the second device
    assert not all_finite(_grads(bad=(1, float("nan"))))  # fp32 on the first device
    assert not all_finite(_grads(bad=(3, float("-inf"))))
    assert all_finite([])


def test_each_multi_all_finite_call_gets_one_device_and_one_dtype(monkeypatch):
    # on a GPU the kernel runs on one device and reads the inputs as one dtype (src/operator/contrib/all_finite*)
    calls = []
    real = mx.nd.multi_all_finite

    def checked(*arrays, **kwargs):
        assert len({(a.context, a.dtype) for a in arrays}) == 1, [(a.context, a.dtype) for a in arrays]
        calls.append(len(arrays))
        return real(*arrays, **kwargs)

    monkeypatch.setattr(mx.nd, "multi_all_finite", checked)
    grads = _grads() * 40  # 160 arrays: 4 groups of 40
    assert all_finite(grads, chunk=16)
    assert sorted(calls) == sorted([16, 16, 8] * 4)


def _fp16_param_on_two_devices(grad_value):
    """A float16 Parameter on cpu(0), cpu(1) whose gradient on each device is `grad_value` (finite in fp16)."""
    param = gluon.Parameter("w", shape=(3,), dtype="float16", init=mx.init.One())
    param.initialize(ctx=CPUS)
    with autograd.record():
        losses = [(param.data(ctx) * grad_value).sum() for ctx in CPUS]
    autograd.backward(losses)
    return param


def _trainer(param):
    return gluon.Trainer([param], "sgd", {"learning_rate": 0.1, "multi_precision": True}, kvstore="device",
                         update_on_kvstore=False)


def test_overflow_of_the_cross_device_sum_is_skipped():
    # 40000 fits in fp16 (max 65504); the kvstore's sum over the two devices, 80000, does not
    param = _fp16_param_on_two_devices(40000.0)
    assert all(np.isfinite(g.asnumpy()).all() for g in param.list_grad())
    scaler = LossScaler(scale=1.0, dynamic=True, min_scale=1 / 1024.0)
    assert gradient_step(_trainer(param), [param], scaler, iteration=1) is False
    assert scaler.skipped == 1 and scaler.scale == 0.5
    for ctx in CPUS:  # the weights were not touched
        np.testing.assert_array_equal(param.data(ctx).asnumpy(), np.ones(3, np.float16))


def test_finite_sum_updates_every_device_with_the_scale_the_gradients_had():
    # loss scale 4, growth after every clean step: the update must divide by 4 (the gradients' scale), not 8
    param = _fp16_param_on_two_devices(4.0 * 0.5)  # each device: 0.5 x scale 4
    scaler = LossScaler(scale=4.0, dynamic=True, growth_interval=1)
    assert gradient_step(_trainer(param), [param], scaler, iteration=1) is True
    assert scaler.scale == 8.0
    # w = 1 - lr * (0.5 + 0.5) = 0.9 on both devices (fp16: 0.89990234)
    for ctx in CPUS:
        np.testing.assert_allclose(param.data(ctx).asnumpy(), np.full(3, 0.9), rtol=1e-3)
