"""headstart: transfer learning in one command.

    import headstart
    clf = headstart.ImageClassifier(backbone="efficientnet_lite0", strategy="frozen").fit("data/")
    clf.predict(["photo.jpg"]); clf.save("model.pt"); headstart.load("model.pt")

    headstart.TextClassifier(backbone="minilm", strategy="frozen").fit("reviews.csv")
"""

__version__ = "0.1.0"

from .analysis import advise  # noqa: E402
from .backbones import list_backbones, load_backbone  # noqa: E402
from .classifier import ImageClassifier, load  # noqa: E402
from .compare import CompareResult, compare  # noqa: E402
from .text.classifier import TextClassifier  # noqa: E402
from .errors import BackboneError, BundleError, ConfigError, DataError, HeadstartError  # noqa: E402

__all__ = ["BackboneError", "BundleError", "CompareResult", "ConfigError", "DataError", "HeadstartError",
           "ImageClassifier", "TextClassifier", "__version__", "advise", "compare", "list_backbones", "load",
           "load_backbone"]
