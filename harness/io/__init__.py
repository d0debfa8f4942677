"""Reading and writing what a task holds: Keras models with the 2020 hooks, HDF5 weights, TFRecord splits.

`harness.io.models` and `harness.io.data` import TensorFlow, `harness.io.hdf5`
only h5py; this export layer imports none of them until a name is used.
"""

from harness.lazy import lazy_exports

_MODELS = ("build_model", "load_model", "load_weights_hdf5", "save_weights_hdf5", "evaluate_accuracy")
_DATA = ("SHARD_GLOB", "TRAIN_EXAMPLES", "cast_whole_floats", "read_split", "list_shards", "dataset_from_arrays",
         "training_dataset", "train_examples", "first_examples", "check_train_examples", "test_dataset",
         "write_split")
_HDF5 = ("LayerWeights", "read_weights_hdf5", "write_weights_hdf5")

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    **{name: "harness.io.models" for name in _MODELS},
    **{name: "harness.io.data" for name in _DATA},
    **{name: "harness.io.hdf5" for name in _HDF5},
})
