"""Hints at nondeterminism: what in a stage whose outputs differ may make it so.

Read from the stage's entry in the revision's dvc.lock: the params it ran with and the command
it ran. A hint names the setting and how to pin it; it proves nothing.
"""

from __future__ import annotations

import re

from lockstep.history.metrics import leaves

# Params that set how many threads or processes compute: more than one can reorder
# floating-point reductions. Seeds left unset draw new random numbers on every run.
THREADS = re.compile(r"n_?jobs|n_?threads?|num_threads|threads?|thread_count|(n_|num_)?workers")
SEEDS = re.compile(r"seed|random_seed|random_state")
ENV_THREADS = re.compile(r"\b([A-Z]+_NUM_THREADS)=(\S+)")
THREADS_WHY = "multi-threaded reductions can change the last bits of a result"


def suspects(stage: str, entry: dict) -> list[str]:
    """Hints at what may make a stage nondeterministic, from its entry in a dvc.lock.

    Its params (thread counts other than 1, seeds set to null) and thread counts its command
    sets in the environment (`OMP_NUM_THREADS=4`): one line each.
    """
    found = []
    for file, values in sorted(entry.get("params", {}).items()):
        for key, value in sorted(leaves(values).items()):
            name = key.rsplit(".", 1)[-1].lower()
            if THREADS.fullmatch(name) and value != 1 and not isinstance(value, bool):
                why = f"{THREADS_WHY}; set it to 1, or compare with --tolerance"
            elif SEEDS.fullmatch(name) and value is None:
                why = "an unset seed draws new random numbers on every run; set it to a number"
            else:
                continue
            found.append(f"hint: stage {stage}: {file} {key} = {value} ({why})")
    cmd = entry.get("cmd", "")
    for var, value in ENV_THREADS.findall(" ".join(cmd) if isinstance(cmd, list) else cmd):
        if value != "1":
            why = f"{THREADS_WHY}; set it to 1, or compare with --tolerance"
            found.append(f"hint: stage {stage}: its cmd sets {var}={value} ({why})")
    return found
