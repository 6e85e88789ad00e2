"""Download ImageNet/OpenImages backbones into data/pretrained_model, the folder `network.pretrained` names.

    python scripts/download_pretrained_models.py [NAME ...] [--dest DIR] [--force] [--keep-archive] [--url MIRROR]

* `original` (default): the original's scripts/download_pretrained_models.sh fetched pretrained_model.tar.gz from
  the URL below and unpacked it into data/; the paper configs then read
  data/pretrained_model/resnet_mx_101_open-0000.params (OpenImages ResNet-101; `resnet_mx_50_imgnet` and
  `mobilenetv2` for the other configs). Its content could not be checked here (no internet).
* `resnet101_v2`, `resnet50_v2`, `mobilenetv2_1.0`: ImageNet weights from MXNet's Gluon model store (URL and
  sha1 from mxnet.gluon.model_zoo.model_store, which gluoncv's store shares for the ResNets; MXNET_GLUON_REPO
  selects a mirror as for MXNet), checked against the store's sha1 and converted to the original's names and
  this project's input (lib/model/zoo_convert.py) as data/pretrained_model/gluon_<name>-0000.params:
  `--set network.pretrained ./data/pretrained_model/gluon_resnet101_v2`.
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.utils.download import DownloadError, Item, main, sha1_of  # noqa: E402

log = logging.getLogger("download_pretrained_models")
ZOO = ("resnet101_v2", "resnet50_v2", "mobilenetv2_1.0")


def zoo_store():
    """(base URL, {name: sha1}) of MXNet's Gluon model store."""
    from mxnet.gluon.model_zoo import model_store
    repo = os.environ.get("MXNET_GLUON_REPO", model_store.apache_repo_url)
    return repo.rstrip("/") + "/", dict(model_store._model_sha1)


def zoo_file_name(name, sha1):
    return "%s-%s" % (name, sha1[:8])  # the store's `<name>-<short hash>` naming


def convert(item, dest):
    """Check the unpacked zoo file against the store's sha1, write gluon_<name>-0000.params, drop the zoo file."""
    from lib.model.checkpoint_names import CheckpointError
    from lib.model.zoo_convert import convert_zoo_file
    sha1 = zoo_store()[1][item.name]
    zoo_file = os.path.join(dest, zoo_file_name(item.name, sha1) + ".params")
    if not os.path.exists(zoo_file):
        raise DownloadError("%s did not contain %s" % (item.archive, os.path.basename(zoo_file)))
    if sha1_of(zoo_file) != sha1:
        os.remove(zoo_file)
        raise DownloadError("%s does not match the model store's sha1 %s (removed; rerun)" % (zoo_file, sha1))
    try:
        out = convert_zoo_file(item.name, zoo_file, os.path.join(dest, item.expect[0]))
    except CheckpointError as err:
        raise DownloadError("could not convert %s: %s" % (zoo_file, err)) from None
    os.remove(zoo_file)
    log.info("wrote %s (use: --set network.pretrained %s)", out, out[:-len("-0000.params")])


def zoo_item(name):
    repo, sha1s = zoo_store()
    file_name = zoo_file_name(name, sha1s[name])
    return Item(name=name, url="%sgluon/models/%s.zip" % (repo, file_name), archive=file_name + ".zip",
                dest="pretrained_model", expect=("gluon_%s-0000.params" % name,), after=convert)


def items():
    found = {"original": Item(name="original", url="https://bit.ly/2WgSJ6b", archive="pretrained_model.tar.gz",
                              dest=".", expect=("pretrained_model/resnet_mx_101_open-0000.params",))}
    found.update((name, zoo_item(name)) for name in ZOO)
    return found


if __name__ == "__main__":
    main(items(), ["original"], __doc__, base="data")
