"""Independent subproblems: connected components of the eligibility graph.

Sites and CRAs linked by eligible pairs form a bipartite graph; a component
(typically a country or a language cluster) shares no site and no CRA with any
other, so its assignment can be solved on its own and the optima merged —
exactly, as long as nothing couples components (a global move budget does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(pairs: pd.DataFrame) -> pd.Series:
    """Component number of every job (indexed by job), largest component first."""
    jobs, job_index = np.unique(pairs["job"].to_numpy(object).astype(str), return_inverse=True)
    agents, agent_index = np.unique(pairs["agent"].to_numpy(object).astype(str),
                                    return_inverse=True)
    size = len(jobs) + len(agents)
    graph = coo_matrix((np.ones(len(pairs)), (job_index, len(jobs) + agent_index)),
                       shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    job_labels = pd.Series(labels[:len(jobs)], index=pd.Index(jobs, name="job"))
    order = job_labels.value_counts().index  # largest first
    renumber = {label: rank for rank, label in enumerate(order)}
    return job_labels.map(renumber).rename("component")
