"""``headstart compare``: scratch vs. the transfer strategies across training-set sizes, with a report.

    result = headstart.compare("photos/", strategies="scratch,frozen,knn", per_class="5,10,all", out="cmp/")
    result.summary; result.table(); result.report  # cmp/report.html
"""

from .grid import nested_subset, split_test
from .report import plot_learning_curves, write_report
from .runner import DEFAULT_SIZES, DEFAULT_STRATEGIES, CompareResult, compare
from .summary import aggregate, summarize_runs

__all__ = ["CompareResult", "DEFAULT_SIZES", "DEFAULT_STRATEGIES", "aggregate", "compare", "nested_subset",
           "plot_learning_curves", "split_test", "summarize_runs", "write_report"]
