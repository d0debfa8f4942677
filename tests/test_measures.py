"""Correctness of the measure building blocks against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

import harness.measures as M
from harness.errors import HarnessError
from harness.io import build_model, dataset_from_arrays


def make_model(layers: list[dict], input_shape: list[int], weights: list | None = None):
    model = build_model({"model_config": layers, "input_shape": input_shape})
    if weights is not None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def one_hot_classifier(kernel) -> object:
    """Bias-free linear layer: the logits of input e_i are row i of ``kernel``."""
    kernel = np.asarray(kernel, dtype=np.float32)
    return make_model([{"layer_name": "Dense", "units": kernel.shape[1], "use_bias": False}],
                      [kernel.shape[0]], [kernel])


# --- weights only ------------------------------------------------------------


def test_path_norm_of_a_two_layer_network_sums_squared_weights_over_paths():
    w1 = [[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0]]
    w2 = [[1.0, -1.0], [2.0, 0.0], [0.5, 1.0]]
    model = make_model([{"layer_name": "Dense", "units": 3, "activation": "relu"},
                        {"layer_name": "Dense", "units": 2}],
                       [2], [w1, [5.0, -5.0, 1.0], w2, [7.0, 7.0]])
    # ones @ w1^2 = [2, 4.25, 9]; @ w2^2 = [2 + 17 + 2.25, 2 + 0 + 9] = [21.25, 11]
    assert M.path_norm(model) == pytest.approx(32.25)


def test_path_norm_through_a_convolution_and_global_average_pooling():
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    model = make_model([{"layer_name": "Conv2D", "filters": 1, "kernel_size": 2},
                        {"layer_name": "GlobalAveragePooling2D"},
                        {"layer_name": "Dense", "units": 1}],
                       [3, 3, 1], [kernel, [9.0], [[2.0]], [0.0]])
    # 4 output cells, each the sum of 30 = 1+4+9+16 over its window; the
    # average's coefficient 1/4 squared; the dense weight 2 squared.
    assert M.path_norm(model) == pytest.approx(4 * 30 * (1 / 16) * 4)


def test_path_norm_rejects_an_unsupported_layer_with_one_line():
    model = make_model([{"layer_name": "Dense", "units": 2},
                        {"layer_name": "LayerNormalization"}], [2])
    with pytest.raises(HarnessError, match="LayerNormalization"):
        M.path_norm(model)


def test_spectral_norm_of_a_conv_kernel_is_the_top_singular_value_of_its_reshape():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 5))
    expected = np.linalg.svd(kernel.reshape(36, 5), compute_uv=False)[0]
    assert M.spectral_norm(kernel) == pytest.approx(expected, rel=1e-12)


def test_spectral_measures_of_a_network_match_numpy_svd():
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(4, 6)), rng.normal(size=(6, 3))
    model = make_model([{"layer_name": "Dense", "units": 6, "activation": "relu"},
                        {"layer_name": "Dense", "units": 3}], [4], [w1, np.zeros(6), w2, np.zeros(3)])
    w1, w2 = w1.astype(np.float32), w2.astype(np.float32)
    s1, s2 = (np.linalg.svd(w, compute_uv=False) for w in (w1, w2))
    assert M.log_prod_spectral(model) == pytest.approx(2 * math.log(s1[0]) + 2 * math.log(s2[0]), rel=1e-6)
    assert M.fro_over_spec(model) == pytest.approx(np.sum(s1 ** 2) / s1[0] ** 2 + np.sum(s2 ** 2) / s2[0] ** 2,
                                                   rel=1e-6)
    assert M.log_prod_frobenius(model) == pytest.approx(math.log(np.sum(w1 ** 2) * np.sum(w2 ** 2)), rel=1e-6)


def test_distance_from_init_on_known_weights():
    model = make_model([{"layer_name": "Dense", "units": 2}], [2],
                       [[[4.0, 1.0], [1.0, 5.0]], [1.5, 0.0]])
    model.initial_weights = [np.array([[1.0, 1.0], [1.0, 1.0]], np.float32),
                             np.array([0.5, 0.0], np.float32)]
    # kernel difference diag(3, 4), bias difference (1, 0)
    assert M.distance_from_init(model) == 9 + 16 + 1
    assert M.spectral_distance_from_init(model) == pytest.approx(16.0)


def test_distance_from_init_without_initial_weights_is_a_one_line_error():
    model = make_model([{"layer_name": "Dense", "units": 2}], [2])
    with pytest.raises(HarnessError, match="weights_init.hdf5"):
        M.distance_from_init(model)


def test_sum_of_squares_counts_every_weight_including_biases():
    model = make_model([{"layer_name": "Dense", "units": 2}], [2], [[[1.0, 2.0], [0.0, -1.0]], [3.0, 0.0]])
    assert M.sum_of_squares(model) == 1 + 4 + 1 + 9


def test_parameter_count_and_vc_bound_of_a_small_network():
    model = make_model([{"layer_name": "Dense", "units": 4}, {"layer_name": "Dense", "units": 2}], [3])
    assert M.parameter_count(model) == 3 * 4 + 4 + 4 * 2 + 2
    assert M.vc_dimension_bound(model) == pytest.approx(2 + 2 * 2 * math.log(22 * 2 * 1024) * (12 + 8))


def test_kit_baselines_reproduce_the_starting_kit_exactly_on_the_toy_task(toy_data):
    from harness.io import load_model
    from harness.task import find_tasks

    task = find_tasks(toy_data)[0]
    for model_id in task.model_ids():
        model = load_model(task, model_id)
        # the kit's sample submissions, verbatim
        kit_l2 = sum([np.linalg.norm(w) ** 2 for w in model.get_weights()])
        kit_dist = sum([np.linalg.norm(w - w_i) ** 2
                        for (w, w_i) in zip(model.get_weights(), model.initial_weights)])
        assert M.sum_of_squares(model) == float(kit_l2)
        assert M.distance_from_init(model) == float(kit_dist)


# --- outputs -------------------------------------------------------------------


HAND_KERNEL = [[2.0, 0.5, -1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 4.0]]
HAND_X = np.eye(3, dtype=np.float32)
HAND_Y = np.array([0, 0, 2], dtype=np.int32)


def test_margins_of_a_hand_set_linear_classifier():
    logits = M.predict_logits(one_hot_classifier(HAND_KERNEL), HAND_X)
    np.testing.assert_allclose(M.margins(logits, HAND_Y), [1.5, -3.0, 3.0])


def test_inverse_margin_uses_the_requested_percentile():
    model = one_hot_classifier(HAND_KERNEL)
    assert M.margin_quantile(model, HAND_X, HAND_Y, q=50) == pytest.approx(1.5)
    assert M.inverse_margin(model, HAND_X, HAND_Y, q=50) == pytest.approx(1 / 1.5 ** 2)


def test_inverse_square_keeps_decreasing_below_zero_margin():
    values = [M.inverse_square(g) for g in (2.0, 0.5, 1e-6, 0.0, -1.0)]
    assert values[0] == pytest.approx(0.25) and values[1] == pytest.approx(4.0)
    assert all(a < b for a, b in zip(values, values[1:]))
    assert all(math.isfinite(v) for v in values)


def test_cross_entropy_and_entropy_of_a_hand_set_classifier():
    model = one_hot_classifier([[math.log(3.0), 0.0], [0.0, 0.0]])
    x = np.eye(2, dtype=np.float32)
    y = np.array([0, 1], dtype=np.int32)
    # softmax rows: (3/4, 1/4) and (1/2, 1/2)
    assert M.cross_entropy(model, x, y) == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2)
    h1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert M.output_entropy(model, x) == pytest.approx((h1 + math.log(2)) / 2)


def test_margin_ratios_combine_the_norm_and_the_margin():
    model = one_hot_classifier(HAND_KERNEL)
    gamma = M.margin_quantile(model, HAND_X, HAND_Y)
    assert M.path_norm_over_margin(model, HAND_X, HAND_Y) == pytest.approx(
        np.sum(np.square(HAND_KERNEL)) * M.inverse_square(gamma))
    top = np.linalg.svd(np.asarray(HAND_KERNEL, np.float32), compute_uv=False)[0]
    assert M.spectral_over_margin(model, HAND_X, HAND_Y) == pytest.approx(
        2 * math.log(top) + math.log(M.inverse_square(gamma)), rel=1e-6)


# --- flatness ------------------------------------------------------------------


def test_largest_passing_finds_a_threshold_to_within_its_tolerance():
    assert M.largest_passing(lambda s: s <= 0.3, start=0.05, rtol=0.01) == pytest.approx(0.3, rel=0.01)
    assert M.largest_passing(lambda s: s <= 0.3, start=7.0, rtol=0.01) == pytest.approx(0.3, rel=0.01)


def planted_noise_model(k: float, c: float, s: float, n: int):
    """Bias-free 2-class linear model whose accuracy under N(0, sigma^2) weight
    noise is Phi(k c / (sigma sqrt(2 (c^2 + s^2)))) for every example.

    Inputs ``±c e_0 + s e_j`` (one private axis ``e_j`` per example, so the
    noise seen by different examples is nearly independent); the kernel
    separates the classes along ``e_0`` with logit difference ``k c``.
    """
    x = np.zeros((n, n + 1), np.float32)
    y = np.arange(n, dtype=np.int32) % 2
    x[:, 0] = np.where(y == 0, c, -c)
    x[np.arange(n), np.arange(n) + 1] = s
    kernel = np.zeros((n + 1, 2), np.float32)
    kernel[0] = [k / 2, -k / 2]
    return one_hot_classifier(kernel), x, y


def test_pacbayes_search_finds_a_planted_sigma():
    k, c, s = 1.8215, 0.5, 5.0
    model, x, y = planted_noise_model(k, c, s, n=400)
    planted = k * c / (norm.ppf(0.9) * math.sqrt(2 * (c ** 2 + s ** 2)))   # accuracy 0.9
    found = M.pacbayes_sigma(model, x, y, draws=32, seed=0, rtol=0.01)
    assert found == pytest.approx(planted, rel=0.06)
    assert 1 / found ** 2 == pytest.approx(M.pacbayes_flatness(model, x, y, draws=32, seed=0, rtol=0.01))


def test_pacbayes_search_is_deterministic_and_restores_the_weights():
    model, x, y = planted_noise_model(1.8, 0.5, 5.0, n=100)
    before = [w.copy() for w in model.get_weights()]
    first = M.pacbayes_sigma(model, x, y, draws=4, seed=3)
    assert M.pacbayes_sigma(model, x, y, draws=4, seed=3) == first
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def planted_box_model(k: float, n: int = 1000):
    """1-D inputs t_j = (j + 1/2)/n, all of class 0, logit difference k t.

    The worst perturbation in the box |v| <= alpha moves the weight
    difference by -2 alpha and the bias difference by -2 alpha, so an example
    is lost when t <= 2 alpha / (k - 2 alpha): a 0.1 drop at alpha = k / 22.
    """
    x = ((np.arange(n) + 0.5) / n).astype(np.float32).reshape(-1, 1)
    model = make_model([{"layer_name": "Dense", "units": 2}], [1], [[[k / 2, -k / 2]], [0.0, 0.0]])
    return model, x, np.zeros(n, np.int32)


def test_sharpness_search_finds_a_planted_alpha():
    model, x, y = planted_box_model(k=2.2)
    found = M.sharpness_alpha(model, x, y, steps=10, rtol=0.01)
    assert found == pytest.approx(2.2 / 22, rel=0.03)
    assert M.sharpness_flatness(model, x, y, steps=10, rtol=0.01) == pytest.approx(1 / found ** 2)


def test_magnitude_aware_sharpness_finds_a_planted_alpha():
    # box alpha |w| + eps: weight difference -(alpha k + 2 eps), bias difference
    # -2 eps; lost when t <= 2 eps / (k (1 - alpha) - 2 eps), 0.1 at 1 - 22 eps / k.
    k, eps = 2.2, 0.01
    model, x, y = planted_box_model(k)
    found = M.sharpness_alpha(model, x, y, magnitude_aware=True, eps=eps, steps=10, rtol=0.005)
    assert found == pytest.approx(1 - 22 * eps / k, rel=0.02)


# --- representations ----------------------------------------------------------


def test_davies_bouldin_of_two_clusters_by_hand():
    features = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    # spreads 1 and 1, centroids 10 apart
    assert M.davies_bouldin(features, np.array([0, 0, 1, 1])) == pytest.approx(0.2)


def test_davies_bouldin_agrees_with_scikit_learn_on_three_clusters():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [4, 0, 1], [0, 5, 2]], float)
    labels = np.repeat([0, 1, 2], [30, 40, 50])
    features = centres[labels] + rng.normal(size=(120, 3))
    assert M.davies_bouldin(features, labels) == pytest.approx(
        metrics.davies_bouldin_score(features, labels), rel=1e-10)


def test_same_class_mixup_of_a_perfect_linear_classifier_is_always_right():
    # every class region of a linear classifier is convex, so mixing two
    # correctly classified examples of a class stays in it
    rng = np.random.default_rng(0)
    model = make_model([{"layer_name": "Dense", "units": 3}], [2],
                       [[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]], [0.0, 0.0, 0.0]])
    x = rng.normal(size=(300, 2)).astype(np.float32) * 3
    y = np.argmax(M.predict_logits(model, x), axis=1).astype(np.int32)
    xm, ym = M.mixup_inputs(x, y, per_class=50, seed=1)
    assert len(ym) == 150 and set(np.unique(ym)) == {0, 1, 2}
    assert M.mixup_accuracy(model, x, y, per_class=50, seed=1) == 1.0
    assert M.db_mixup(model, x, y, per_class=50, seed=1) == 0.0


def test_five_number_summary_keeps_whiskers_inside_the_fences():
    values = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 100], float)
    np.testing.assert_allclose(M.five_number_summary(values), [1, 3.25, 5.5, 7.75, 9])


def test_label_variation_on_a_hand_built_graph():
    features = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    # 1-NN graph: a-b and c-d, each with cosine 1; only a-b joins two classes
    assert M.label_variation(features, np.array([0, 1, 1, 1]), k=1) == pytest.approx(0.5)
    assert M.label_variation(features, np.array([0, 0, 1, 1]), k=1) == 0.0


def test_augmentations_of_images_keep_shape_and_do_what_they_say():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(M.augment(x, "flip", rng), x[:, :, ::-1, :])
    for kind in M.representation.IMAGE_AUGMENTATIONS:
        assert M.augment(x, kind, rng).shape == x.shape
    erased = M.augment(x, "erase", rng)
    assert all((erased[n] == 0).any() for n in range(5))


def test_augmentation_sensitivity_is_zero_for_a_constant_network():
    model = make_model([{"layer_name": "Dense", "units": 2}], [4], [np.zeros((4, 2)), [1.0, 0.0]])
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    assert M.augmentation_sensitivity(model, x) == 0.0


def test_layer_outputs_returns_the_activations_of_the_requested_layers():
    model = make_model([{"layer_name": "Dense", "units": 2, "activation": "relu"},
                        {"layer_name": "Dense", "units": 1}], [2],
                       [[[1.0, -1.0], [1.0, 1.0]], [0.0, 0.0], [[1.0], [2.0]], [0.5]])
    hidden, out = M.layer_outputs(model, np.array([[1.0, 2.0]], np.float32), [0, 1])
    np.testing.assert_allclose(hidden, [[3.0, 1.0]])
    np.testing.assert_allclose(out, [[3.0 + 2.0 + 0.5]])


# --- data ----------------------------------------------------------------------


def test_sample_examples_is_seeded_and_balances_classes_on_request():
    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    y = (np.arange(100) < 80).astype(np.int32)       # 20 of class 0, 80 of class 1
    dataset = dataset_from_arrays(x, y)
    a, _ = M.sample_examples(dataset, 10, seed=1)
    b, _ = M.sample_examples(dataset, 10, seed=1)
    c, _ = M.sample_examples(dataset, 10, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    _, yb = M.sample_examples(dataset, 30, seed=0, balanced=True)
    assert np.bincount(yb).tolist() == [15, 15]
    everything, _ = M.sample_examples(dataset, 1000)
    np.testing.assert_array_equal(everything, x)


NIN_LIKE = [{"layer_name": "Conv2D", "filters": 2, "kernel_size": 1, "use_bias": False},
            {"layer_name": "BatchNormalization"},
            {"layer_name": "Activation", "activation": "relu"},
            {"layer_name": "Conv2D", "filters": 3, "kernel_size": 1},
            {"layer_name": "GlobalAveragePooling2D"}]


def test_early_features_take_a_conv_block_after_its_normalization_and_activation():
    model = make_model(NIN_LIKE, [4, 4, 1])
    model.layers[0].kernel.assign(np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2))
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype(np.float32)
    # batch norm at initialization divides by sqrt(1 + 1e-3); the 4x4 max-pool
    # over a 4x4 map is the maximum of each channel
    flat = x.reshape(3, 16)
    expected = np.stack([flat.max(axis=1), (-flat).max(axis=1)], axis=1) / math.sqrt(1.001)
    np.testing.assert_allclose(M.early_features(model, x), np.maximum(expected, 0), rtol=1e-5)


def test_penultimate_features_are_the_input_of_the_last_kernel_layer():
    model = make_model(NIN_LIKE, [4, 4, 1])
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype(np.float32)
    (activation,) = M.layer_outputs(model, x, [2])
    np.testing.assert_allclose(M.penultimate_features(model, x), activation.reshape(3, 32))
    linear = one_hot_classifier(HAND_KERNEL)
    np.testing.assert_array_equal(M.penultimate_features(linear, HAND_X), HAND_X)
