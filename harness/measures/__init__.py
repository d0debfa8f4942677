"""Building blocks for complexity measures, importable from inside the sandbox.

A sample submission is a few lines on top of these::

    from harness.measures import sample_examples, inverse_margin

    def complexity(model, dataset, seed=0):
        x, y = sample_examples(dataset, 2000, seed=seed)
        return inverse_margin(model, x, y)

Families (see each module): `norms` (weights only), `margins` (outputs on
training data), `flatness` (PAC-Bayes and sharpness searches) and
`representation` (the 2020 competition winners). Every measure is oriented as a
*complexity*: larger means a larger expected generalization gap.
"""

from harness.measures.data import (accuracy, forward_fn, num_classes, predict_logits,
                                   read_arrays, sample_examples, softmax)
from harness.measures.flatness import (largest_passing, noisy_accuracy, pacbayes_flatness,
                                       pacbayes_mag_flatness, pacbayes_sigma,
                                       sharpness_alpha, sharpness_flatness,
                                       sharpness_mag_flatness)
from harness.measures.margins import (cross_entropy, inverse_margin, inverse_square,
                                      margin_quantile, margins, output_entropy,
                                      path_norm_over_margin, spectral_over_margin)
from harness.measures.norms import (as_matrix, distance_from_init, fro_over_spec,
                                    frobenius_norm, initial_kernels, kernels,
                                    log_prod_frobenius, log_prod_spectral, parameter_count,
                                    path_norm, spectral_distance_from_init, spectral_norm,
                                    sum_of_squares, vc_dimension_bound)
from harness.measures.representation import (augment, augmentation_sensitivity,
                                             davies_bouldin, db_mixup, early_features,
                                             five_number_summary, knn_graph, label_variation,
                                             latent_label_variation, layer_outputs,
                                             mixup_accuracy, mixup_inputs, mixup_margin,
                                             penultimate_features)

__all__ = [
    "accuracy", "forward_fn", "num_classes", "predict_logits", "read_arrays",
    "sample_examples", "softmax",
    "largest_passing", "noisy_accuracy", "pacbayes_flatness", "pacbayes_mag_flatness",
    "pacbayes_sigma", "sharpness_alpha", "sharpness_flatness", "sharpness_mag_flatness",
    "cross_entropy", "inverse_margin", "inverse_square", "margin_quantile", "margins",
    "output_entropy", "path_norm_over_margin", "spectral_over_margin",
    "as_matrix", "distance_from_init", "fro_over_spec", "frobenius_norm", "initial_kernels",
    "kernels", "log_prod_frobenius", "log_prod_spectral", "parameter_count", "path_norm",
    "spectral_distance_from_init", "spectral_norm", "sum_of_squares", "vc_dimension_bound",
    "augment", "augmentation_sensitivity", "davies_bouldin", "db_mixup", "early_features",
    "five_number_summary", "knn_graph", "label_variation", "latent_label_variation",
    "layer_outputs", "mixup_accuracy", "mixup_inputs", "mixup_margin", "penultimate_features",
]
