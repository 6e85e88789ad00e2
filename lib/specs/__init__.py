"""Small frozen specs built from the config in one place each (`Spec.from_config(cfg)`).

Leaf code takes a spec, never the whole config: a config key that no spec (nor another reader) reads is
visibly legacy. Layer: just above `lib.config`; a spec module imports nothing of the project but the config.
"""
from lib.specs.inference import NMSSpec, TestPyramidSpec

__all__ = ["NMSSpec", "TestPyramidSpec"]
