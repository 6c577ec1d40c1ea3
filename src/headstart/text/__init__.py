"""Transfer learning for text: ``TextClassifier``, pretrained encoders, labelled-text loading and a baseline.

The encoders live in the backbone registry (:mod:`headstart.backbones.text`) and are re-exported here.
Fine-tuning lives in ``headstart.text.finetune`` (imported on demand: it needs torch and transformers).
"""

from headstart.backbones.text import (SentenceTransformerEncoder, TextEncoder, WordVectorEncoder, list_text_encoders,
                                      load_text_encoder)
from headstart.data.text import LoadReport, TextDataset, is_text_data, load_text_dataset
from headstart.text.baselines import tfidf_logreg
from headstart.text.classifier import TEXT_STRATEGIES, TextClassifier

__all__ = ["LoadReport", "SentenceTransformerEncoder", "TEXT_STRATEGIES", "TextClassifier", "TextDataset",
           "TextEncoder", "WordVectorEncoder", "is_text_data", "list_text_encoders", "load_text_dataset",
           "load_text_encoder", "tfidf_logreg"]
