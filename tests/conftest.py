"""Test-wide settings."""

import os

# The suite's linear algebra is small; on 2 shared cores a multi-threaded BLAS spends far longer
# synchronising threads than computing (measured ~30x slower on the tuning tests).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
