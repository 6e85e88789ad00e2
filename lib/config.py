"""Configuration: defaults, YAML experiment files and `--set KEY VALUE` overrides.

    cfg = load_config("configs/quickstart/shapes_cpu.yml", ["TRAIN.BATCH_IMAGES", "4"])
    cfg.TRAIN.BATCH_IMAGES  # -> 4

Every key must exist in `lib.config_defaults.DEFAULTS` (YAML and `--set` alike); values are converted to the
type of the key's current value. Mistakes raise `ConfigError`, which the CLIs turn into one line and exit 2.
"""
import argparse
import ast
import copy
import difflib
import os
import sys

import yaml

from lib.config_defaults import DEFAULTS, PER_SCALE_KEYS
from lib.config_error import ConfigError
from lib.config_legacy import warn_legacy
from lib.config_values import check_values


class Config(dict):
    """A nested dict with attribute access (`cfg.TRAIN.lr`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __deepcopy__(self, memo):
        return Config({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self):
        """Plain nested dicts/lists, for YAML dumps and logging."""
        return {k: v.to_dict() if isinstance(v, Config) else _plain(v) for k, v in self.items()}


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _wrap(tree):
    return Config({k: _wrap(v) if isinstance(v, dict) else v for k, v in tree.items()})


def default_config():
    """A fresh copy of the defaults."""
    return _wrap(copy.deepcopy(DEFAULTS))


def _tupled(value):
    """Lists -> tuples, recursively (YAML and literal lists become the defaults' tuple form)."""
    if isinstance(value, (list, tuple)):
        return tuple(_tupled(v) for v in value)
    return value


def _describe(value):
    return type(value).__name__


def convert_value(key, value, current, raw=None):
    """Convert `value` to the type of `current` (the key's present value) or raise ConfigError.

    `raw` is the word typed on the command line, used for string keys (`gpus 0,1` stays "0,1").
    """
    def fail():
        shown = raw if raw is not None else repr(value)
        raise ConfigError("config key %s: cannot use %s (expected %s, like %r)"
                          % (key, shown, _describe(current), current))

    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        fail()
    if isinstance(current, int):
        if key in PER_SCALE_KEYS and isinstance(value, (list, tuple)):
            if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return tuple(value)
            fail()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            fail()
        return int(value)
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        return float(value)
    if isinstance(current, str):
        if raw is not None:
            return raw
        if isinstance(value, (dict, list, tuple)):
            fail()
        return str(value)
    if isinstance(current, (tuple, list)):
        if key in PER_SCALE_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, (list, tuple)):
            fail()
        return _tupled(value)
    fail()


def _unknown(key, candidates):
    close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
    hint = " (did you mean %s?)" % ", ".join(close) if close else ""
    return ConfigError("unknown config key %s%s" % (key, hint))


def _all_keys(tree, prefix=""):
    keys = []
    for k, v in tree.items():
        keys.append(prefix + k)
        if isinstance(v, dict):
            keys.extend(_all_keys(v, prefix + k + "."))
    return keys


def set_key(cfg, dotted, value, raw=None):
    """Assign `value` to the nested key `dotted` (e.g. "TRAIN.lr"), converting its type."""
    node = cfg
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise _unknown(dotted, _all_keys(cfg))
        if i < len(parts) - 1:
            node = node[part]
    if isinstance(node[parts[-1]], dict):
        raise ConfigError("config key %s is a section; set one of its keys (e.g. %s.%s)"
                          % (dotted, dotted, next(iter(node[parts[-1]]))))
    node[parts[-1]] = convert_value(dotted, value, node[parts[-1]], raw)


def _merge_yaml(cfg, tree, prefix, path):
    for key, value in tree.items():
        dotted = prefix + str(key)
        if isinstance(value, dict):
            node = cfg
            for part in dotted.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ConfigError("%s: %s" % (path, _unknown(dotted, _all_keys(cfg))))
                node = node[part]
            _merge_yaml(cfg, value, dotted + ".", path)
        else:
            try:
                set_key(cfg, dotted, value)
            except ConfigError as err:
                raise ConfigError("%s: %s" % (path, err)) from None


def update_from_yaml(cfg, path):
    """Load a YAML experiment file over `cfg` (safe loader; lists become tuples where keys hold tuples)."""
    if not os.path.isfile(path):
        raise ConfigError("config file %s does not exist" % path)
    try:
        with open(path) as f:
            tree = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        raise ConfigError("config file %s is not valid YAML: %s" % (path, str(err).replace("\n", " "))) from None
    if not isinstance(tree, dict):
        raise ConfigError("config file %s must hold a mapping of keys" % path)
    _merge_yaml(cfg, tree, "", path)
    cfg["_cfg_file"] = path
    return cfg


def parse_word(word):
    """A `--set` value: a Python literal when it parses as one, else the raw string."""
    try:
        return ast.literal_eval(word)
    except (ValueError, SyntaxError):
        return word


def update_from_list(cfg, words):
    """Apply `--set` words: KEY VALUE [KEY VALUE ...]."""
    if len(words) % 2:
        raise ConfigError("--set takes KEY VALUE pairs, got an odd number of words: %s" % " ".join(words))
    for key, word in zip(words[0::2], words[1::2]):
        if key.startswith("--"):
            raise ConfigError("--set must come last: %s after it was read as a config key" % key)
        set_key(cfg, key, parse_word(word), raw=word)
    return cfg


def load_config(cfg_file=None, overrides=()):
    """Defaults, then the YAML file (if any), then the `--set` words; legacy keys warn, values are checked."""
    cfg = default_config()
    cfg["_cfg_file"] = ""
    if cfg_file:
        update_from_yaml(cfg, cfg_file)
    update_from_list(cfg, list(overrides))
    warn_legacy(cfg)  # one line per key set that has no effect (lib/config_legacy.py)
    return check_values(cfg)


def config_name(cfg):
    """The experiment's name: the YAML file's stem ('default' without one)."""
    path = cfg.get("_cfg_file") or ""
    return os.path.splitext(os.path.basename(path))[0] if path else "default"


def add_config_args(parser, default_cfg):
    """Add the shared `--cfg` and `--set` (REMAINDER, must come last) options."""
    parser.add_argument("--cfg", default=default_cfg, help="YAML experiment file (default: %(default)s)")
    parser.add_argument("--set", dest="set_words", nargs=argparse.REMAINDER, default=[],
                        metavar="KEY VALUE", help="override config keys; must come last")
    return parser


def config_from_args(args):
    """Load the config named by parsed CLI args; a ConfigError exits 2 with one line on stderr."""
    try:
        return load_config(args.cfg, args.set_words)
    except ConfigError as err:
        sys.stderr.write("error: %s\n" % err)
        sys.exit(2)
