"""The model zoo: datasets, architecture families, spec files, the builder and `zoo info`.

`pgdl zoo build SPEC --out ROOT` trains a zoo (`model_zoo.builder.build_zoo`);
`pgdl zoo info ROOT` describes one (`model_zoo.info.zoo_info`). The default zoo
that `pgdl score` uses without ``--data`` is `DEFAULT_ZOO` (split layout),
built from ``model_zoo/specs/default.toml``. Importing this package does not
import TensorFlow.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_ZOO = PACKAGE_DIR / "default"
SPECS_DIR = PACKAGE_DIR / "specs"

__all__ = ["DEFAULT_ZOO", "PACKAGE_DIR", "SPECS_DIR"]
