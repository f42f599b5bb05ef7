"""A small digit classifier used as a measuring instrument for generated MNIST / Fashion-MNIST.

Trained once per dataset on its training split (cached and verified like every cache entry), its
accuracy on the test split stored with it. It reads a generator's samples two ways:
- the class histogram: how many classes hold at least `covered_share` of the samples and the
  histogram's entropy (log2 10 = 3.32 bits when every class is equally frequent): mode collapse
  measured directly (WGAN §4.3: "the standard GAN ... suffers from mode collapse");
- its confidence: the mean top-class probability, and the Inception score's formula
  exp(E_x KL(p(y|x) || p(y))) with this classifier in place of Inception (1 to 10). That is an
  offline stand-in on MNIST, not comparable with published Inception scores.
A sample of noise can spread over many classes, so the class count alone does not say "digits":
read it beside the confidence.
"""
from __future__ import annotations

import torch
from torch import nn

from .data import labelled_digits, to_unit_range
from .files import cache_dir, load_verified, save_verified

VERSION = 1  # part of the cache key: bump it when the architecture or the training changes
COVERED_SHARE = 0.05  # a class is covered when it holds at least half of its fair share (1/10) of the samples


class DigitClassifier(nn.Sequential):
    """Two 3x3 conv + max-pool blocks and a 128-unit hidden layer; 28 px, 1 channel, inputs in [-1, 1]."""

    def __init__(self):
        super().__init__(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def train_classifier(name: str = "mnist", epochs: int = 1, seed: int = 0, batch_size: int = 128,
                     data_root=None, download: bool = False) -> tuple[DigitClassifier, float]:
    """(classifier, accuracy on the test split), trained with Adam 1e-3 on the training split."""
    images, labels = labelled_digits(name, train=True, data_root=data_root, download=download)
    torch.manual_seed(seed)
    model, order = DigitClassifier(), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=order).split(batch_size):
            loss = nn.functional.cross_entropy(model(to_unit_range(images[idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    test_images, test_labels = labelled_digits(name, train=False, data_root=data_root)
    return model.eval(), float((predict(model, to_unit_range(test_images)).argmax(1) == test_labels).float().mean())


def load_classifier(name: str = "mnist", data_root=None, download: bool = False) -> tuple[DigitClassifier, float]:
    """The cached classifier of `name` and its test accuracy; trained (about a minute on 2 cores) and
    cached on first use, so the data stage pays for it once."""
    path = cache_dir() / "classifiers" / f"{name}-v{VERSION}.pt"
    state = load_verified(path, f"{name} classifier")
    if state is None:
        model, accuracy = train_classifier(name, data_root=data_root, download=download)
        save_verified({"weights": model.state_dict(), "test_accuracy": accuracy}, path)
        return model, accuracy
    model = DigitClassifier()
    model.load_state_dict(state["weights"])
    return model.eval(), float(state["test_accuracy"])


@torch.no_grad()
def predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Class probabilities (N, 10) of images in [-1, 1], resized to 28 px when they are not."""
    if images.shape[-1] != 28:
        images = nn.functional.interpolate(images, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return torch.cat([classifier(b).softmax(1) for b in images.split(batch_size)])


def class_histogram(classifier: nn.Module, images: torch.Tensor, covered_share: float = COVERED_SHARE) -> dict:
    """How a classifier reads `images` ([-1, 1], (N, 1, S, S)): the class counts, the classes
    covered (holding >= covered_share of the samples), the histogram's entropy in bits, the mean
    top-class probability and the classifier score (the Inception score's formula)."""
    probs = predict(classifier, images)
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1])
    share = counts.double() / len(probs)
    entropy = -(share[share > 0] * share[share > 0].log2()).sum() + 0.0  # + 0.0: one class gives 0, not -0
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    return {"n": len(probs), "class_counts": counts.tolist(), "classes_covered": int((share >= covered_share).sum()),
            "class_entropy_bits": float(entropy), "mean_confidence": float(probs.max(1).values.mean()),
            "classifier_score": float(kl.exp())}
