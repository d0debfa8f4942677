"""The 2020 starting kit's helper modules, rewritten: ``model_utils``, ``data_manager``, ``data_io``.

2020 submissions imported them by these bare names from the ingestion
program's folder, which the ingestion program put on ``sys.path``. The worker
appends this folder to ``sys.path`` (after the submission's own folder, so a
submission that ships a module of the same name gets its own). They offer
what the kit's modules offered, built on `harness.io`, under whichever
Keras the run uses (``tf.keras``: Keras 3, or ``tf_keras`` with ``--keras 2``).
"""
