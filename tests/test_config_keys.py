"""Every config key is either read by the code or declared legacy (lib/config_legacy.py), and legacy keys warn.

The read check parses the code (lib/ and the entry scripts, without the config modules themselves) and collects
the keys it reads, section-qualified: `cfg.TRAIN.FG_THRESH`, an alias `train = cfg.TRAIN` then `train.FG_THRESH`
(also in tuple assignments), `cfg.TRAIN["FG_THRESH"]`, `cfg.TRAIN.get("FG_THRESH")`, and root keys on a name
`cfg` / `config` (`cfg.gpus`, `self.cfg.gpus`). A key only named in a docstring or a comment is not read.
"""
import ast
import glob
import logging
import os

import pytest

from lib.config import load_config
from lib.config_defaults import DEFAULTS
from lib.config_legacy import LEGACY_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY_SCRIPTS = ("main_train.py", "main_test.py", "demo.py")
CONFIG_NAMES = {"cfg", "config"}


def default_keys(tree=DEFAULTS, prefix=""):
    """Dotted names of every leaf key of the defaults."""
    keys = []
    for name, value in tree.items():
        if isinstance(value, dict):
            keys.extend(default_keys(value, prefix + name + "."))
        else:
            keys.append(prefix + name)
    return keys


def _sections(tree=DEFAULTS, prefix=""):
    """Section name (last component) -> dotted section, e.g. 'ALTERNATE' -> 'TRAIN.ALTERNATE'."""
    found = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            found[name] = prefix + name
            found.update(_sections(value, prefix + name + "."))
    return found


SECTIONS = _sections()


def _key_name(node):
    """The key named by an access node: attribute name, constant subscript, or `.get("KEY")`; else None."""
    if isinstance(node, ast.Attribute):
        return node.value, node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.value, node.slice.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return node.func.value, node.args[0].value
    return None


def _receiver_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _section_of(node, aliases):
    """The dotted section an expression stands for (`cfg.TRAIN`, `train` aliasing it), or None."""
    access = _key_name(node)
    if access is not None and access[1] in SECTIONS:
        return SECTIONS[access[1]]
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    return None


def _aliases(tree):
    """Names assigned a config section anywhere in the file: {'train': 'TRAIN', ...}."""
    aliases = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts))
            for name, value in pairs:
                section = _section_of(value, {})
                if isinstance(name, ast.Name) and section:
                    aliases[name.id] = section
    return aliases


def keys_read_in(source):
    """Dotted config keys read by one Python source text."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    roots = {k for k, v in DEFAULTS.items() if not isinstance(v, dict)}
    found = set()
    for node in ast.walk(tree):
        access = _key_name(node)
        if access is None:
            continue
        receiver, name = access
        section = _section_of(receiver, aliases)
        if section:
            found.add(section + "." + name)
        elif name in roots and _receiver_name(receiver) in CONFIG_NAMES:
            found.add(name)
    return found & set(default_keys())


def code_files():
    """lib/**/*.py without lib/config*.py (the loader, defaults, legacy table and value checks), entry scripts."""
    files = glob.glob(os.path.join(ROOT, "lib", "**", "*.py"), recursive=True)
    lib = os.path.join(ROOT, "lib")
    files = [f for f in files if not (os.path.dirname(f) == lib and os.path.basename(f).startswith("config"))]
    return files + [os.path.join(ROOT, name) for name in ENTRY_SCRIPTS]


def keys_read_by_code():
    found = set()
    for path in code_files():
        with open(path) as f:
            found |= keys_read_in(f.read())
    return found


def test_reader_finder_sees_qualified_reads_only():
    source = ('"""cfg.TRAIN.BG_THRESH_LO in a docstring."""\n'
              "def f(cfg):\n"
              "    net, train = cfg.network, cfg.TRAIN\n"
              "    t = cfg.TEST\n"
              "    return (train.FG_THRESH, t['NMS'], cfg.TRAIN.ALTERNATE.rpn1_lr, cfg.gpus,\n"
              "            cfg.dataset.get('MAX_GTS'), args.output_path, net.NUM_ANCHORS, cfg.TRAIN.RPN_MIN_SIZE)\n")
    assert keys_read_in(source) == {"TRAIN.FG_THRESH", "TEST.NMS", "TRAIN.ALTERNATE.rpn1_lr", "gpus",
                                    "dataset.MAX_GTS", "network.NUM_ANCHORS", "TRAIN.RPN_MIN_SIZE"}


def test_every_key_is_read_or_legacy():
    unread = sorted(set(default_keys()) - keys_read_by_code() - set(LEGACY_KEYS))
    assert not unread, ("keys neither read by lib/ or the entry scripts nor declared in lib/config_legacy.py: %s"
                        % ", ".join(unread))


def test_legacy_keys_are_defaults_and_not_read():
    assert set(LEGACY_KEYS) <= set(default_keys())
    wired = sorted(set(LEGACY_KEYS) & keys_read_by_code())
    assert not wired, "keys read by the code but declared legacy (drop them from LEGACY_KEYS): %s" % wired
    assert all(len(reason) > 20 for reason in LEGACY_KEYS.values())


def _legacy_warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "lib.config_legacy" and r.levelno == logging.WARNING]


def test_default_config_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING):
        load_config()
    assert _legacy_warnings(caplog) == []


@pytest.mark.parametrize("key, word", [("TRAIN.CPP_CHIPS", "True"), ("TEST.RPN_PRE_NMS_TOP_N", "3000"),
                                       ("TRAIN.BBOX_WEIGHTS", "(2.0, 1.0, 1.0, 1.0)"), ("symbol", "resnet_mx_50_e2e")])
def test_set_legacy_key_warns_once_naming_it(caplog, key, word):
    with caplog.at_level(logging.WARNING):
        cfg = load_config(None, [key, word])
    messages = _legacy_warnings(caplog)
    assert len(messages) == 1, messages
    assert messages[0].startswith("config key %s = " % key) and "has no effect: " + LEGACY_KEYS[key] in messages[0]
    assert "\n" not in messages[0]
    assert cfg.TRAIN.lr == 0.0  # the run continues with the config


def test_yaml_legacy_key_warns_and_its_default_does_not(caplog, tmp_path):
    changed, kept = tmp_path / "changed.yml", tmp_path / "kept.yml"
    changed.write_text("TRAIN:\n  END2END: true\n  BBOX_NORMALIZATION_PRECOMPUTED: true\n")
    kept.write_text("TRAIN:\n  END2END: false\nTEST:\n  USE_CACHE: [false, false, false]\n  NMS: 0.5\n")
    with caplog.at_level(logging.WARNING):
        load_config(str(changed))
    assert [m.split(" = ")[0] for m in _legacy_warnings(caplog)] == [
        "config key TRAIN.END2END", "config key TRAIN.BBOX_NORMALIZATION_PRECOMPUTED"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_config(str(kept), ["TEST.RPN_PRE_NMS_TOP_N", "6000"])
    assert _legacy_warnings(caplog) == []


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*", "*.yml"))))
def test_shipped_configs_set_no_legacy_key(caplog, path):
    with caplog.at_level(logging.WARNING):
        load_config(path)
    assert _legacy_warnings(caplog) == []


if __name__ == "__main__":
    read = keys_read_by_code()
    for key in default_keys():
        print("READ  " if key in read else ("LEGACY" if key in LEGACY_KEYS else "UNREAD"), key)
