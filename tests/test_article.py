"""course_utils.experiments.article: notebook 05's online section, run offline on fakes.

A FAKE cached ImageNet state dict (random weights) under a temporary TORCH_HOME, and a small
CIFAR-10 written in torchvision's on-disk format (cifar-10-batches-py pickles, the tar.gz, and the
md5 sums torchvision checks, pointed at our files).
"""

import hashlib
import pickle
import tarfile

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10
from torchvision.models import ResNet50_Weights, resnet50
from torchvision.transforms.functional import to_tensor

from course_utils.experiments import article, weights
from course_utils.experiments.weights import imagenet_weights_path

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_fake_cifar10(root, monkeypatch, per_batch: int = 6) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = rng.integers(0, 10, per_batch)
        data = (rng.random((per_batch, 3, 32, 32)) * 64 + labels[:, None, None, None] * 19).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data.reshape(per_batch, -1), "labels": labels.tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASSES}, f)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    monkeypatch.setattr(CIFAR10, "train_list", [[n, _md5(folder / n)] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(folder / "batches.meta")})
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(root / "cifar-10-python.tar.gz"))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(weights.socket, "create_connection", no_network)
    return tmp_path


def test_offline_the_section_is_skipped_with_one_line(offline):
    reason = article.article_task_unavailable()
    assert reason and "\n" not in reason and "ImageNet" in reason


def test_the_article_task_on_fakes_feeds_224_pixel_imagenet_inputs(offline, monkeypatch, capsys):
    torch.manual_seed(0)
    path = imagenet_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(resnet50().state_dict(), path)
    write_fake_cifar10(offline / "data" / "cifar10", monkeypatch)
    assert article.article_task_unavailable() is None

    seen = []
    real_load = article.load_resnet50

    def spying_load(*args, **kwargs):
        model = real_load(*args, **kwargs)
        model.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].detach()))
        return model

    monkeypatch.setattr(article, "load_resnet50", spying_load)
    results = article.run_article_task("cpu", strategies=("linear-probe", "last-stage"), train_size=2,
                                       test_size=2, epochs=1, batch_size=2)
    assert "ImageNet weights (ResNet50_Weights.IMAGENET1K_V2)" in capsys.readouterr().out
    assert set(results) == {"linear-probe", "last-stage"}
    for r in results.values():
        assert 0 <= r["test_acc"] <= 1 and len(r["history"]) == 1
    assert seen and all(x.shape[1:] == (3, 224, 224) for x in seen)
    # the last batch the model saw is the test set's last images, in order: torchvision's own
    # ImageNet transform of the same pixels is the oracle
    image = CIFAR10(offline / "data" / "cifar10", train=False)[1][0]
    expected = ResNet50_Weights.DEFAULT.transforms()(to_tensor(image))
    torch.testing.assert_close(seen[-1][-1], expected, atol=1e-5, rtol=0)
