"""What the tests share: tiny tasks (`tiny_tasks`), a loopback Ray cluster (`loopback`), submissions (`submissions`).

Never shipped in the package (and so never mounted into a sandbox).
"""

from tests.helpers.submissions import write_submission
from tests.helpers.tiny_tasks import (DEFAULT_GRID, TinyTask, expected_sum_of_squares, make_tiny_task, mlp_config,
                                      sample_toy_data, stored_weights)

__all__ = ["write_submission", "DEFAULT_GRID", "TinyTask", "expected_sum_of_squares", "make_tiny_task", "mlp_config",
           "sample_toy_data", "stored_weights"]
