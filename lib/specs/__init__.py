"""Small frozen specs built from the config in one place each (`Spec.from_config(cfg)`).

Leaf code takes a spec, never the whole config: a config key that no spec (nor another reader) reads is
visibly legacy. Layer: above `lib.config`, `lib.geometry` and `lib.utils`, below everything that reads a spec.
"""
from lib.specs.inference import NMSSpec, TestPyramidSpec

__all__ = ["NMSSpec", "TestPyramidSpec"]
