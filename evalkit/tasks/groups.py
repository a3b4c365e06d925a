"""Group results as lm-eval 0.4.13 computes them (``api/group.py`` ``aggregate``).

A group's number for ``metric,filter`` is the mean of its leaf tasks' numbers (every task below it,
through nested groups), weighted by their sample counts when ``weight_by_size``; the standard
error is the pooled one (weighted) or that of an unweighted mean of independent means, and N/A
when any leaf lacks one. A group without ``aggregate_metric_list`` reports no numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evalkit.scores import Aggregate
from evalkit.tasks.loader import LoadedGroup
from evalkit.tasks.metrics import pooled_stderr, unweighted_mean_stderr, weighted_mean

Results = Mapping[str, Mapping[str, Mapping[str, Aggregate]]]  # task -> filter -> metric -> aggregate


def leaf_tasks(group: LoadedGroup, groups: Mapping[str, LoadedGroup]) -> list[str]:
    out: list[str] = []
    for member in group.members:
        for leaf in leaf_tasks(groups[member], groups) if member in groups else [member]:
            if leaf not in out:
                out.append(leaf)
    return out


def group_results(groups: Sequence[LoadedGroup], results: Results) -> dict[str, dict[str, dict[str, Aggregate]]]:
    """The aggregates of every group whose leaf tasks all ran (a partial group would be a different number)."""
    by_name = {g.name: g for g in groups}
    out: dict[str, dict[str, dict[str, Aggregate]]] = {}
    for group in groups:
        leaves = leaf_tasks(group, by_name)
        if not group.aggregate or any(leaf not in results for leaf in leaves):
            continue
        block: dict[str, dict[str, Aggregate]] = {}
        for agg in group.aggregate:
            filters = agg.filter_list
            if filters is None:  # every filter under which some leaf reports the metric
                filters = list(dict.fromkeys(f for leaf in leaves for f, m in results[leaf].items() if agg.metric in m))
            elif isinstance(filters, str):
                filters = [filters]
            for flt in filters:
                found = [results[leaf][flt][agg.metric] for leaf in leaves
                         if agg.metric in results[leaf].get(flt, {})]
                if not found:
                    continue
                sizes = [a.n for a in found]
                value = weighted_mean([a.value for a in found], sizes, agg.weight_by_size)
                stderr = None
                if all(a.stderr is not None for a in found):
                    ses = [float(a.stderr) for a in found if a.stderr is not None]
                    stderr = pooled_stderr(ses, sizes) if agg.weight_by_size else unweighted_mean_stderr(ses)
                block.setdefault(flt, {})[agg.metric] = Aggregate(value, stderr, sum(sizes))
        out[group.name] = block
    return out
