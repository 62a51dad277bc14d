"""the Llama model skips the final RMSNorm model.norm before the lm_head."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "llama_forward"

_m8.BROKEN["no_final_norm"] = True
