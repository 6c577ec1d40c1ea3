"""``headstart compare``: scratch vs. the transfer strategies across training-set sizes, with a report; one
runner (:mod:`.runner`) for images and texts, each modality a plug-in (:mod:`.images`, :mod:`.text`).

    result = headstart.compare("photos/", strategies="scratch,frozen,knn", per_class="5,10,all", out="cmp/")
    result.summary; result.table(); result.report  # cmp/report.html
"""

from .grid import nested_subset, split_test
from .report import plot_learning_curves, write_report
from .runner import DEFAULT_SIZES, DEFAULT_STRATEGIES, CompareResult, compare
from .summary import aggregate, summarize_runs
from .text import compare_text

__all__ = ["CompareResult", "DEFAULT_SIZES", "DEFAULT_STRATEGIES", "aggregate", "compare", "compare_text",
           "nested_subset", "plot_learning_curves", "split_test", "summarize_runs", "write_report"]
