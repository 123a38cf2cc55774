"""Scale-out: shard samples or configurations over Ray workers and merge the results exactly.

`Pool(workers=N)` starts a local Ray instance and stops it at the end; `Pool(address=...)`
uses an existing cluster; `Pool()` runs serially in this process. `verify_sharded`,
`evaluate` and the sweep build on it. Ray is the optional extra `hwsnn[cluster]`.
"""

from ._chunks import ArrayChunks, npz_names
from ._eval import Evaluation, evaluate
from ._pool import INSTALL_HINT, Pool
from ._shard import merge_comparisons, sample_ranges, take
from ._sweep import sweep_sharded
from ._verify import verify_sharded

__all__ = ["ArrayChunks", "npz_names", "Evaluation", "evaluate", "Pool", "INSTALL_HINT", "sample_ranges", "take", "merge_comparisons", "verify_sharded",
           "sweep_sharded"]
