"""The digit classifier as an instrument: what its class histogram and score say about known inputs,
and its cache (trained once, verified, retrained when the file is damaged)."""
import math

import pytest
import torch
from torch import nn

from tests.conftest import make_tiny_datasets
from wgan_repro import classifier as K


class _ByFirstPixel(nn.Module):
    """A stand-in classifier: the class is the first pixel's value x 10 (images built to say it),
    with a confidence set by `margin`."""

    def __init__(self, margin: float = 20.0):
        super().__init__()
        self.margin = margin

    def forward(self, x):
        k = ((x[:, 0, 0, 0] + 1) / 2 * 10).long().clamp(0, 9)
        return nn.functional.one_hot(k, 10).float() * self.margin


def _images(classes: list[int]) -> torch.Tensor:
    x = torch.zeros(len(classes), 1, 28, 28)
    x[:, 0, 0, 0] = torch.tensor([(k + 0.5) / 10 * 2 - 1 for k in classes])
    return x


def test_the_class_histogram_tells_ten_balanced_classes_from_a_collapse():
    balanced = K.class_histogram(_ByFirstPixel(), _images(list(range(10)) * 50))
    assert balanced["class_counts"] == [50] * 10 and balanced["classes_covered"] == 10 and balanced["n"] == 500
    assert balanced["class_entropy_bits"] == pytest.approx(math.log2(10))
    assert balanced["classifier_score"] == pytest.approx(10, rel=1e-3) and balanced["mean_confidence"] > 0.999

    collapsed = K.class_histogram(_ByFirstPixel(), _images([3] * 480 + [7] * 20))
    assert collapsed["class_counts"][3] == 480 and collapsed["classes_covered"] == 1  # 7 holds 4% < 5%
    assert collapsed["class_entropy_bits"] < 0.25 and collapsed["classifier_score"] < 1.2

    single = K.class_histogram(_ByFirstPixel(), _images([4] * 100))
    assert single["class_entropy_bits"] == 0.0 and math.copysign(1.0, single["class_entropy_bits"]) == 1.0  # no "-0.00"

    unsure = K.class_histogram(_ByFirstPixel(margin=0.0), _images(list(range(10)) * 50))  # every class 1/10
    assert unsure["mean_confidence"] == pytest.approx(0.1) and unsure["classifier_score"] == pytest.approx(1.0)


def test_images_of_another_size_are_resized_to_28_px():
    probs = K.predict(K.DigitClassifier().eval(), torch.zeros(3, 1, 32, 32))
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3))


def test_the_classifier_is_trained_once_cached_and_retrained_when_its_file_is_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    root = make_tiny_datasets(tmp_path / "data", n_mnist=64, n_cifar_per_class=1)
    model, accuracy = K.load_classifier("mnist", data_root=root)
    assert 0.0 <= accuracy <= 1.0
    path = tmp_path / "cache" / "classifiers" / f"mnist-v{K.VERSION}.pt"
    assert path.is_file()

    def no_training(*a, **k):
        raise AssertionError("trained again although the cache holds it")

    with monkeypatch.context() as m:
        m.setattr(K, "train_classifier", no_training)
        again, accuracy_again = K.load_classifier("mnist", data_root=root)
    assert accuracy_again == accuracy
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))

    path.write_bytes(path.read_bytes()[:-10])  # torn or tampered: its hash no longer matches
    retrained, _ = K.load_classifier("mnist", data_root=root)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), retrained.state_dict().values()))


def test_labelled_digits_reads_both_splits_with_their_labels(tmp_path, monkeypatch):
    from wgan_repro.data import labelled_digits

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    root = make_tiny_datasets(tmp_path / "data", n_mnist=64, n_cifar_per_class=1)
    train, labels = labelled_digits("mnist", train=True, data_root=root)
    test, test_labels = labelled_digits("mnist", train=False, data_root=root)
    assert train.shape == (64, 1, 28, 28) and train.dtype == torch.uint8 and labels.shape == (64,)
    assert test.shape == (20, 1, 28, 28) and int(test_labels.max()) <= 9
    with pytest.raises(ValueError, match="dataset='cifar10' is not allowed here"):
        labelled_digits("cifar10", data_root=root)
