"""pgdl-harness: run complexity measures on a zoo of trained networks and score them.

The scoring half (`harness.metrics`, `harness.evaluate`, `harness.task`) never
imports TensorFlow; only model and data loading do.
"""

__version__ = "0.1.0"
