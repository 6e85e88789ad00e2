"""Test-time parts: NMS, per-scale batching, decoding, merging scales, COCO results and evaluation."""
