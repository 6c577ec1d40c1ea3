"""Which MiniLM fine-tuning for text ``auto``: end to end (``headstart.text.finetune``) or SetFit's recipe?

SetFit (Tunstall et al. 2022): contrastive fine-tuning of the sentence encoder on sampled same/different-class pairs
(one of each per text and iteration) with sentence-transformers' ``CosineSimilarityLoss``, then logistic regression
on the new embeddings. BBC News headlines, the subsets and test split of ``compare_bbc_news.py --headlines``.

    .venv/bin/python benchmarks/text_finetune_recipes.py {frozen,full,setfit} [--size 8] [--iterations 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, losses
from sklearn.model_selection import train_test_split

from compare_bbc_news import bbc_folder, subsets
from headstart.backbones import TEXT_REGISTRY
from headstart.data.text import load_text_dataset
from headstart.heads import fit_head
from headstart.text import load_text_encoder
from headstart.text.finetune import fine_tune_minilm, predict_proba


def setfit(texts: list[str], y: np.ndarray, test: list[str], seed: int, iterations: int, lr: float = 2e-5,
           batch_size: int = 16) -> np.ndarray:
    """Predicted classes of ``test`` after SetFit's contrastive fine-tuning and a logistic-regression head."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SentenceTransformer(str(TEXT_REGISTRY["minilm"].require()), device="cpu", local_files_only=True)
    pairs = []
    for _ in range(iterations):
        for i in range(len(texts)):
            same = np.flatnonzero((y == y[i]) & (np.arange(len(y)) != i))
            pairs += [(i, rng.choice(same), 1.0), (i, rng.choice(np.flatnonzero(y != y[i])), 0.0)]
    loss = losses.CosineSimilarityLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    order = rng.permutation(len(pairs))
    for start in range(0, len(order), batch_size):
        batch = [pairs[j] for j in order[start:start + batch_size]]
        value = loss([model.tokenize([texts[i] for i, _, _ in batch]), model.tokenize([texts[j] for _, j, _ in batch])],
                     torch.tensor([label for *_, label in batch]))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    model.eval()
    head, _ = fit_head("logreg", model.encode(texts, normalize_embeddings=True), y, int(y.max()) + 1, seed=seed)
    with torch.inference_mode():
        return head(torch.from_numpy(model.encode(test, normalize_embeddings=True, batch_size=64))).argmax(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=["frozen", "full", "setfit"])
    parser.add_argument("--size", default="8")
    parser.add_argument("--iterations", type=int, default=5, help="setfit: pair-sampling iterations (SetFit: 20)")
    args = parser.parse_args()
    data = load_text_dataset(bbc_folder())
    texts = np.asarray([t.strip().splitlines()[0].strip() for t in data.texts], dtype=object)
    y = np.asarray([data.classes.index(label) for label in data.labels])
    pool, test = train_test_split(np.arange(len(texts)), test_size=0.3, stratify=data.labels, random_state=0)
    vectors = load_text_encoder("minilm", device="cpu").encode(list(texts)) if args.recipe == "frozen" else None
    accuracies = []
    for seed, train in enumerate(subsets(pool, np.asarray(data.labels), 3)[args.size]):
        started = time.perf_counter()
        if args.recipe == "frozen":
            head, _ = fit_head("logreg", vectors[train], y[train], len(data.classes), seed=seed)
            predicted = head(torch.from_numpy(vectors[test])).argmax(1).numpy()
        elif args.recipe == "full":
            model, _ = fine_tune_minilm(list(texts[train]), [data.classes[i] for i in y[train]], seed=seed,
                                        device="cpu", classes=data.classes)
            predicted = predict_proba(model, list(texts[test])).argmax(1)
        else:
            predicted = setfit(list(texts[train]), y[train], list(texts[test]), seed, args.iterations)
        accuracies.append(float(np.mean(predicted == y[test])))
        print(f"{args.recipe} {args.size}/class seed {seed}: {accuracies[-1]:.3f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"{args.recipe}: {100 * np.mean(accuracies):.1f} ± {100 * np.std(accuracies):.1f}")


if __name__ == "__main__":
    main()
