"""Split one batched forward over threads: each group of the batch runs on its own thread through one session.

SiamFC's search forward is one batch of S scales (3 by default). With onnxruntime on N > 1 threads there are
two ways to use the threads:

- *operators* (onnxruntime's intra-op pool): each convolution is split over the N threads and joined before the
  next one -- a join per operator, which waits for any worker the OS has descheduled. On a CPU busy with other
  work (the drone's other nodes; this machine's other jobs) that wait is the cost: bench/bench_tracker_720p.py
  measured two threads slower than one that way.
- *batch groups* (this module): the batch is cut into N groups along its first axis and each group's whole
  forward runs on its own thread, through a session with one intra-op thread (onnxruntime allows concurrent
  ``run`` calls on one session and releases the GIL while it computes); one join per forward.

With 3 scales on 2 threads the groups are 2 + 1 scales, so the best case is 1.5x one thread.
concurrent.futures is the standard library's pool; nothing here is specific to a network.

Python 3.8 (runs onboard).
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


class SplitBatch:
    """``run(output_names, feeds)`` like an onnxruntime session: ``feeds[split_input]`` is split along its first
    axis into ``groups`` parts (fewer if the batch is smaller), each part runs through ``session`` on its own thread
    (the first on the caller's), every output is concatenated back in order. The other feeds go to every part."""

    def __init__(self, session: Any, groups: int, split_input: str):
        if int(groups) < 1:
            raise ValueError('groups must be at least 1, not %r' % (groups,))
        self.session = session
        self.groups = int(groups)
        self.split_input = split_input
        self._pool = ThreadPoolExecutor(self.groups - 1, thread_name_prefix='split-batch') if self.groups > 1 else None

    def run(self, output_names: Optional[Sequence[str]], feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        x = feeds[self.split_input]
        n = min(self.groups, len(x))
        if n < 2 or self._pool is None:
            return self.session.run(output_names, feeds)
        parts = [dict(feeds, **{self.split_input: g}) for g in np.array_split(x, n)]
        others = [self._pool.submit(self.session.run, output_names, f) for f in parts[1:]]
        results = [self.session.run(output_names, parts[0])] + [f.result() for f in others]
        return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
