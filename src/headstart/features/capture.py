"""Capturing what named submodules of a network compute during its forward pass.

:func:`capturing` registers one forward hook per named submodule, records what each call gives (its output by
default) and always removes the hooks on leaving; with ``stop_after``, :meth:`Captured.run` ends the forward pass
as soon as that module has finished (nothing after it is computed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

Record = Callable[[nn.Module, tuple[Any, ...], Any], Any]  # (module, its inputs, its output) -> what to keep


def output(_module: nn.Module, _inputs: tuple[Any, ...], result: Any) -> Any:
    """The default record: the module's output."""
    return result


def mean_pooled(activation: torch.Tensor) -> torch.Tensor:
    """A feature map ``(N, C, H, W)`` averaged over its positions, or tokens ``(N, L, C)`` over its tokens."""
    return activation.mean(dim=(2, 3)) if activation.ndim == 4 else activation.mean(dim=1)


class StopForward(Exception):
    """Raised by the hook of ``stop_after``: nothing after that module needs computing."""


class Captured:
    """What the captured modules recorded: ``records[name]``, one item per call, and ``order``, the names in the
    order their modules finished."""

    def __init__(self, names: list[str]):
        self.records: dict[str, list[Any]] = {name: [] for name in names}
        self.order: list[str] = []

    def __getitem__(self, name: str) -> Any:
        """What module ``name`` recorded on its last call."""
        return self.records[name][-1]

    @staticmethod
    def run(network: nn.Module, *inputs: Any) -> Any:
        """``network(*inputs)``, or ``None`` where the forward pass stopped after ``stop_after``."""
        try:
            return network(*inputs)
        except StopForward:
            return None


@contextmanager
def capturing(root: nn.Module, names: Iterable[str], *, record: Record = output,
              stop_after: str | None = None) -> Iterator[Captured]:
    """Inside, each forward call of ``root``'s submodule ``name`` (for each of ``names``) appends ``record(module,
    inputs, output)`` to ``records[name]`` of the :class:`Captured` yielded; after ``stop_after`` has recorded,
    :class:`StopForward` ends the forward pass (run it with :meth:`Captured.run`)."""
    captured = Captured(list(dict.fromkeys(names)))

    def hook(name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def on_output(module: nn.Module, inputs: tuple[Any, ...], result: Any) -> None:
            captured.records[name].append(record(module, inputs, result))
            captured.order.append(name)
            if name == stop_after:
                raise StopForward
        return on_output

    handles = []
    try:
        for name in captured.records:
            handles.append(root.get_submodule(name).register_forward_hook(hook(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()
