"""The kvstore choice: refused when this MXNet build cannot run it, a hint when a faster one fits."""
import logging

import mxnet as mx
import pytest

from lib.config import ConfigError, load_config
from lib.train.kvstore import check_kvstore, create_kvstore


class Features:
    """mx.runtime.Features stand-in: the named features are enabled."""

    def __init__(self, *enabled):
        self.enabled = set(enabled)

    def is_enabled(self, name):
        return name in self.enabled


def test_nccl_refused_on_a_build_without_nccl():
    with pytest.raises(ConfigError, match="default.kvstore: 'nccl' needs an MXNet build with NCCL"):
        check_kvstore("nccl", [mx.gpu(0), mx.gpu(1)], Features("CUDA", "DIST_KVSTORE"))
    check_kvstore("nccl", [mx.gpu(0), mx.gpu(1)], Features("CUDA", "NCCL"))


@pytest.mark.skipif(mx.runtime.Features().is_enabled("NCCL"), reason="this build has NCCL")
def test_nccl_refused_before_mxnet_is_asked():
    # MXNet itself would only stop inside KVStore::Create ("compile with USE_NCCL=1")
    with pytest.raises(ConfigError, match="NCCL"):
        create_kvstore(load_config(None, ["default.kvstore", "nccl"]), [mx.cpu(0), mx.cpu(1)])


def test_async_and_missing_dist_refused():
    with pytest.raises(ConfigError, match="dist_async.*per-parameter"):
        check_kvstore("dist_async", [mx.cpu(0)], Features("DIST_KVSTORE"))
    with pytest.raises(ConfigError, match="distributed kvstore"):
        check_kvstore("dist_sync", [mx.cpu(0)], Features())


def test_dist_sync_with_several_gpus_suggests_dist_sync_device(caplog):
    with caplog.at_level(logging.WARNING):
        check_kvstore("dist_sync", [mx.gpu(0), mx.gpu(1)], Features("DIST_KVSTORE"))
        check_kvstore("dist_sync_device", [mx.gpu(0), mx.gpu(1)], Features("DIST_KVSTORE"))
        check_kvstore("dist_sync", [mx.cpu(0), mx.cpu(1)], Features("DIST_KVSTORE"))
    hints = [r.getMessage() for r in caplog.records if "dist_sync_device" in r.getMessage()]
    assert len(hints) == 1 and "2 GPUs per worker" in hints[0]
