"""headstart: transfer learning in one command.

    import headstart
    clf = headstart.ImageClassifier(backbone="efficientnet_lite0", strategy="frozen").fit("data/")
    clf.predict(["photo.jpg"]); clf.save("model.pt"); headstart.load("model.pt")

    headstart.TextClassifier(backbone="minilm", strategy="frozen").fit("reviews.csv")

The public names are imported on first use (torch and friends take seconds to import), so
``import headstart`` and ``headstart --help`` stay instant.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import BackboneError, BundleError, ConfigError, DataError, HeadstartError, StorageError
from .lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {"advise": ".analysis", "list_backbones": ".backbones", "load_backbone": ".backbones",
         "ImageClassifier": ".classifier", "load": ".bundle", "CompareResult": ".compare", "compare": ".compare",
         "TextClassifier": ".text.classifier"}

if TYPE_CHECKING:
    from .analysis import advise
    from .backbones import list_backbones, load_backbone
    from .bundle import load
    from .classifier import ImageClassifier
    from .compare import CompareResult, compare
    from .text.classifier import TextClassifier

__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """``headstart.compare`` stays the function when the subpackage of that name is imported (the import system
    binds a loaded subpackage to its parent's attribute)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f".{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = ["BackboneError", "BundleError", "CompareResult", "ConfigError", "DataError", "HeadstartError",
           "ImageClassifier", "StorageError", "TextClassifier", "__version__", "advise", "compare",
           "list_backbones", "load", "load_backbone"]
