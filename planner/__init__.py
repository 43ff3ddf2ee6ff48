"""planner: the plan of record and the computations on it."""

import os

# The models solve many tiny problems (L-BFGS-B steps, 3×3 Hessians). On a busy
# machine OpenBLAS's worker threads make them about 5× slower; one thread is
# faster for this work. Only a default: the environment can still say otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
