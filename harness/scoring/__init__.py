"""Scoring beyond the point estimates of `harness.metrics`: permutation nulls and intervals.

* `harness.scoring.null` — the permutation null of every headline metric (official score,
  robust CMI, Kendall's τ, Ψ) and of the overall official score: mean, 95th percentile, p-value.
* `harness.scoring.intervals` — percentile intervals where they are valid: τ and Ψ from
  resampled models, and, where a zoo has replicate seeds, every headline from seeds resampled
  within each grid cell.

Pure numpy, like `harness.metrics`; never imports TensorFlow or scipy.
"""
