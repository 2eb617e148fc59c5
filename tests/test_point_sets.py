"""The paper's four point sets: selection, pooling, scale, the random sets and their streams, the manifest.

Most tests run on the tiny synthetic MNIST of tests/conftest.py. The digests pinned below were
computed with the code as it was before the package was split into layers
(``git show fcbcf40:src/localregions/data.py``, its ``prepare_datasets``, on the same MNIST files):
the restructure and everything after it must keep the default (``random_draw="pooled"``) sets
byte-identical, since every published number is computed from them.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import torch
import torchvision  # noqa: F401  (load_mnist_split imports it: once here, not in every forked mutmut worker)
from conftest import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, synthetic_arrays
from torch.nn import functional as F

from localregions.experiment.point_sets import STREAMS, load_point_set, prepare_point_sets
from localregions.experiment.specs import PointSetSpec
from localregions.experiment.storage import CorruptFileError
from localregions.vocabulary import DATASET_NAMES

SMALL = {"per_class": 3, "random_points": 40}


def spec(**overrides) -> PointSetSpec:
    return PointSetSpec(**{**SMALL, **overrides})


def load_all(directory) -> dict[str, torch.Tensor]:
    return {name: load_point_set(directory, name)[0] for name in DATASET_NAMES}


@pytest.fixture
def prepared(synthetic_raw_root, tmp_path):
    root, hashes = synthetic_raw_root
    out = tmp_path / "processed"
    manifest = prepare_point_sets(root, out, spec(seed=3), source="local", expected_sha256=hashes)
    return out, manifest, root, hashes


# ------------------------------------------------------------------------------------------------
# What the sets are
# ------------------------------------------------------------------------------------------------


def test_the_default_spec_is_the_papers():
    assert PointSetSpec() == PointSetSpec(digits=[0, 4], per_class=500, seed=0, pool=6, scale="raw",
                                          random_points=1000, random_draw="pooled")


def test_prepared_sets_have_the_expected_shapes_labels_and_manifest(prepared):
    out, manifest, _, _ = prepared
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{n}.pt" for n in DATASET_NAMES), "manifest.json"])
    assert (out / "manifest.json").read_text() == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert sorted(manifest["datasets"]) == sorted(DATASET_NAMES)
    for name in DATASET_NAMES:
        x, y = load_point_set(out, name)
        assert x.dtype == torch.float64 and y.dtype == torch.int64 and x.shape[1] == 36
        entry = manifest["datasets"][name]
        payload = (out / f"{name}.pt").read_bytes()
        assert entry["file"] == f"{name}.pt"
        assert entry["file_bytes"] == len(payload)
        assert entry["file_sha256"] == hashlib.sha256(payload).hexdigest()
        assert entry["size"] == x.shape[0] and entry["seed"] == 3 and entry["scale"] == "raw"
        assert entry["pooling"] == {"method": "adaptive_avg_pool2d", "from": [28, 28], "to": [6, 6]}
        assert entry["x_sha256"] == hashlib.sha256(x.numpy().tobytes()).hexdigest()
        assert entry["y_sha256"] == hashlib.sha256(y.numpy().tobytes()).hexdigest()
    for name in ("train", "test"):
        assert manifest["datasets"][name]["label_counts"] == {"0": 3, "1": 3}
        assert load_point_set(out, name)[1].shape == (6,)
    for name in ("random1", "random2"):
        assert manifest["datasets"][name]["label_counts"] == {"-1": 40}
        assert torch.equal(load_point_set(out, name)[1], torch.full((40,), -1))
    assert manifest["mnist_source"] == "local"
    assert manifest["label_map"] == {"0": 0, "4": 1, "random": -1}
    assert manifest["digits"] == [0, 4] and manifest["pool"] == 6 and manifest["seed"] == 3
    assert manifest["per_class"] == 3 and manifest["random_points"] == 40
    assert manifest["scale"] == "raw" and manifest["random_draw"] == "pooled"
    assert {name: entry["description"] for name, entry in manifest["datasets"].items()} == {
        "train": "3 images of digit 0 and 3 of digit 4, drawn from the MNIST train split",
        "test": "3 images of digit 0 and 3 of digit 4, drawn from the MNIST test split",
        "random1": "each pooled pixel: uniform between its minimum and maximum over the train set",
        "random2": "each pooled pixel: uniform over the full grey range 0-255",
    }


def test_preparation_is_byte_identical_twice(prepared, tmp_path):
    out, _, root, hashes = prepared
    again = tmp_path / "again"
    prepare_point_sets(root, again, spec(seed=3), source="local", expected_sha256=hashes)
    prepare_point_sets(root, out, spec(seed=3), source="local", expected_sha256=hashes)
    for path in out.iterdir():
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_another_seed_draws_other_points(prepared, tmp_path):
    out, _, root, hashes = prepared
    other = tmp_path / "other"
    prepare_point_sets(root, other, spec(seed=4), expected_sha256=hashes)
    first, second = load_all(out), load_all(other)
    for name in DATASET_NAMES:
        assert not torch.equal(first[name], second[name]), name


def test_filtering_selects_the_two_digits_without_replacement(synthetic_raw_root, tmp_path):
    root, hashes = synthetic_raw_root
    arrays = synthetic_arrays()
    # pool=28 keeps every pixel, so each row must be one whole source image.
    prepare_point_sets(root, tmp_path / "p", spec(digits=[7, 2], pool=28, per_class=4, random_points=5),
                       expected_sha256=hashes)
    for name, images, labels in (
        ("train", arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS]),
        ("test", arrays[TEST_IMAGES], arrays[TEST_LABELS]),
    ):
        x, y = load_point_set(tmp_path / "p", name)
        flat = images.reshape(len(images), -1).astype(np.float64)
        matches = [int(np.flatnonzero((flat == row).all(axis=1))[0]) for row in x.numpy()]
        assert len(set(matches)) == len(matches) == 8
        assert matches == sorted(matches)  # MNIST's own order
        assert [{7: 0, 2: 1}[int(labels[i])] for i in matches] == y.tolist()


def test_pooling_averages_grey_levels(synthetic_raw_root, tmp_path):
    root, hashes = synthetic_raw_root
    images = synthetic_arrays()[TRAIN_IMAGES].astype(np.float64)
    quadrant_means = images.reshape(-1, 2, 14, 2, 14).mean(axis=(2, 4)).reshape(-1, 4)
    prepare_point_sets(root, tmp_path / "p", spec(pool=2), expected_sha256=hashes)
    x, _ = load_point_set(tmp_path / "p", "train")
    for row in x.numpy():
        assert np.isclose(quadrant_means, row, rtol=0, atol=1e-12).all(axis=1).any()


def test_per_class_none_takes_every_test_image_and_as_many_train_images(make_raw_root, tmp_path):
    arrays = synthetic_arrays()
    labels = arrays[TEST_LABELS].copy()
    labels[np.flatnonzero(labels == 4)[0]] = 0  # the test split: five 0s and three 4s
    arrays[TEST_LABELS] = labels
    root, hashes = make_raw_root(arrays)
    manifest = prepare_point_sets(root, tmp_path / "p", PointSetSpec(per_class=None, random_points=5),
                                  expected_sha256=hashes)
    for name in ("train", "test"):  # the train split has six of each: five and three of them are drawn
        assert manifest["datasets"][name]["label_counts"] == {"0": 5, "1": 3}
        assert manifest["datasets"][name]["description"].startswith("5 images of digit 0 and 3 of digit 4, drawn")
    assert manifest["per_class"] is None


def test_prepare_rejects_more_per_class_than_available(synthetic_raw_root, tmp_path):
    root, hashes = synthetic_raw_root
    with pytest.raises(ValueError, match="per_class=7 asks for 7 images of digit 0 but the train split has 6"):
        prepare_point_sets(root, tmp_path / "p", spec(per_class=7), expected_sha256=hashes)


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"scale": "percent"}, "scale"),
        ({"digits": [0, 0]}, "digits"),
        ({"digits": [0, 10]}, "digits"),
        ({"digits": [0]}, "digits"),
        ({"digits": [0.0, 4]}, "digits"),
        ({"digits": "04"}, "digits"),
        ({"per_class": 0}, "per_class"),
        ({"per_class": True}, "per_class"),
        ({"random_points": 0}, "random_points"),
        ({"pool": 0}, "pool"),
        ({"pool": 29}, "pool"),
        ({"seed": -1}, "seed"),
        ({"random_draw": "pixel"}, "random_draw"),
    ],
)
def test_the_spec_validates_its_fields(arguments, name):
    with pytest.raises(ValueError, match=name):
        PointSetSpec(**arguments)


def test_prepare_without_a_spec_builds_the_papers_sets(synthetic_raw_root, tmp_path):
    # The synthetic MNIST is far too small for 500 images per class: the paper's spec was used.
    root, hashes = synthetic_raw_root
    with pytest.raises(ValueError, match="per_class=500 asks for 500 images of digit 0"):
        prepare_point_sets(root, tmp_path / "p", expected_sha256=hashes)


def test_prepare_refuses_a_spec_that_is_not_a_point_set_spec(tmp_path):
    with pytest.raises(ValueError, match="spec must be a PointSetSpec, got dict"):
        prepare_point_sets(tmp_path / "raw", tmp_path / "out", {"pool": 6})


# ------------------------------------------------------------------------------------------------
# The random sets
# ------------------------------------------------------------------------------------------------


def unit_draws(out) -> tuple[torch.Tensor, torch.Tensor]:
    """The uniform numbers behind random1 and random2 (pooled draw, raw scale), recovered from the points."""
    train, random1, random2 = (load_point_set(out, name)[0] for name in ("train", "random1", "random2"))
    low, high = train.min(dim=0).values, train.max(dim=0).values
    return (random1 - low) / (high - low), random2 / 255.0


def test_random_sets_are_uniform_over_their_ranges(prepared):
    out, _, _, _ = prepared
    u1, u2 = unit_draws(out)
    for u in (u1, u2):
        assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
        # 1,440 draws: the mean of U(0,1) is 0.5 (sd 0.0076 here), its variance 1/12 = 0.0833.
        assert abs(float(u.mean()) - 0.5) < 0.03
        assert abs(float(u.var()) - 1 / 12) < 0.01
        # Each coordinate covers its range, not a corner of it.
        assert float((u.max(dim=0).values - u.min(dim=0).values).min()) > 0.6


def test_random_sets_draw_from_independent_streams(prepared):
    # Were random2 drawn from random1's stream, its uniforms would be random1's, one for one.
    out, manifest, _, _ = prepared
    u1, u2 = unit_draws(out)
    assert not torch.allclose(u1, u2)
    correlation = float(np.corrcoef(u1.flatten().numpy(), u2.flatten().numpy())[0, 1])
    assert abs(correlation) < 0.1  # 1,440 pairs: sd of the sample correlation about 0.026
    assert {name: entry["stream"] for name, entry in manifest["datasets"].items()} == STREAMS
    assert sorted(STREAMS.values()) == [0, 1, 2, 3]


def test_resizing_one_set_shifts_no_other(prepared, tmp_path):
    out, _, root, hashes = prepared
    base = load_all(out)
    more = tmp_path / "more_random"
    prepare_point_sets(root, more, spec(seed=3, random_points=80), expected_sha256=hashes)
    bigger = load_all(more)
    assert torch.equal(bigger["train"], base["train"]) and torch.equal(bigger["test"], base["test"])
    for name in ("random1", "random2"):  # the first 40 draws of each stream are the same draws
        assert bigger[name].shape == (80, 36) and torch.equal(bigger[name][:40], base[name])
    fewer = tmp_path / "fewer_images"
    prepare_point_sets(root, fewer, spec(seed=3, per_class=2), expected_sha256=hashes)
    smaller = load_all(fewer)
    # random2 does not depend on the images at all; random1 only through their ranges.
    assert torch.equal(smaller["random2"], base["random2"])
    assert not torch.equal(smaller["random1"], base["random1"])


def test_unit_scale_divides_by_255(prepared, tmp_path):
    out, _, root, hashes = prepared
    unit = tmp_path / "unit"
    unit_manifest = prepare_point_sets(root, unit, spec(seed=3, scale="unit"), expected_sha256=hashes)
    raw_sets, unit_sets = load_all(out), load_all(unit)
    for name in ("train", "test"):
        assert torch.equal(unit_sets[name], raw_sets[name] / 255.0)
    # The random sets are drawn on the unit scale from the same uniforms as the raw ones.
    train = unit_sets["train"]
    low, high = train.min(dim=0).values, train.max(dim=0).values
    assert torch.allclose((unit_sets["random1"] - low) / (high - low), unit_draws(out)[0], rtol=0, atol=1e-12)
    assert torch.allclose(unit_sets["random2"], raw_sets["random2"] / 255.0, rtol=1e-14, atol=0)
    assert float(unit_sets["random2"].max()) <= 1.0 and float(unit_sets["random2"].max()) > 0.9
    assert unit_manifest["datasets"]["random2"]["scale"] == "unit"
    assert unit_manifest["datasets"]["random2"]["description"] == "each pooled pixel: uniform over the full grey range 0-1"


# Digests of the sets the pre-restructure code (fcbcf40:src/localregions/data.py, prepare_datasets)
# wrote from the synthetic MNIST of conftest.py with seed=3, per_class=3, random_points=40.
OLD_SYNTHETIC = {
    "raw": {
        "train": ("81ff36ed7f62c4191431a122c5fc1718ef0c79f6af62c859371bbdcce1b47313",
                  "2e71bf705585903a08988651d6e553e25caa326c0615960f54b39d203b5be0aa"),
        "test": ("2923aeaf540a20572f2934fcb6fb5a42cc7c4120abec5fac7511136f1db2d52a",
                 "741b91ec0d673abab47b5cd17a5be0b3c23ec10a40aa7eae139fd61842fe1088"),
        "random1": ("1c4d0ecf40dafd534142e836151eb4610958fef80687076f19f8812e9798ae98",
                    "1f34be94c0f6303063808553c7e906fedaf542afe7fc5d52040008ebfbe35038"),
        "random2": ("a5a84a34259a479b9de91c62e16be7369da956e846b8429e46de30f87e947dea",
                    "1f34be94c0f6303063808553c7e906fedaf542afe7fc5d52040008ebfbe35038"),
    },
    "unit": {
        "train": ("ed1442f99e883e34735c035315d82500f9be29b2bb9377307b4e3fc0a7515be9",
                  "2e71bf705585903a08988651d6e553e25caa326c0615960f54b39d203b5be0aa"),
        "test": ("d382e00d558aa052a33d42fe862366069ab366ba2ac8ba2d2f9faa1e860321c4",
                 "741b91ec0d673abab47b5cd17a5be0b3c23ec10a40aa7eae139fd61842fe1088"),
        "random1": ("06e6028c08361c3ba84bc58f184f3ceb2e2744fcc5bc754f8672da9086c818a4",
                    "1f34be94c0f6303063808553c7e906fedaf542afe7fc5d52040008ebfbe35038"),
        "random2": ("1ca6fbbfde927e77858a3566545bf12ea0acae06af26b08cb1652ba35bcff595",
                    "1f34be94c0f6303063808553c7e906fedaf542afe7fc5d52040008ebfbe35038"),
    },
}

# The same for real MNIST and the default spec (the paper's sets: digits 0 and 4, 500 per class,
# 6x6 pooling, 1,000 random points, seed 0).
OLD_REAL = {
    "raw": {
        "train": ("e5979703fcc03f3f746ba71fc61cb8ad6e6eaeeeca261d31095fbe65bf7d7454",
                  "425a270631b749c0f4e67e6860d861dd31aa812de67cfb4f80cc71c2ae5a5134"),
        "test": ("3fdae7971ce938edaa288e483404d3b6ad8a5fd0b837e988775d430b5b4492c4",
                 "f7230d4f03bce64b70285d71f651efe5e7116ad24f8d879575dbbf4264870946"),
        "random1": ("2477a3ffa8340ba9dc5c017b14e0c305fb5c4b89ece61f17a90ea00aab6d6023",
                    "bbc0f58b6ba541901c4e0a54d7c4dc92e24c2f2f8abd5a83839188b6ec7db0ba"),
        "random2": ("ca5e77703df19200eac9656443db2cee534a23fb93ef717a98cb2c2a1589244c",
                    "bbc0f58b6ba541901c4e0a54d7c4dc92e24c2f2f8abd5a83839188b6ec7db0ba"),
    },
    "unit": {
        "train": ("a1e35668e8d84b488ab0cf0dd8d74bd6324b29cb3e384d4c7196522634b975ff",
                  "425a270631b749c0f4e67e6860d861dd31aa812de67cfb4f80cc71c2ae5a5134"),
        "test": ("d9befb226fcb1af8e9408744fbe61efd1de879026c0a153a37c7712755efa534",
                 "f7230d4f03bce64b70285d71f651efe5e7116ad24f8d879575dbbf4264870946"),
        "random1": ("29232c35633526482b22cfd9bfb8b7cbe91ec9ed151649eec57c86854e927ff1",
                    "bbc0f58b6ba541901c4e0a54d7c4dc92e24c2f2f8abd5a83839188b6ec7db0ba"),
        "random2": ("4f75e278ee545d7335500b70ae9655802a1602e0440f8bb3a42bd74748516370",
                    "bbc0f58b6ba541901c4e0a54d7c4dc92e24c2f2f8abd5a83839188b6ec7db0ba"),
    },
}


def digests(manifest: dict) -> dict[str, tuple[str, str]]:
    return {name: (entry["x_sha256"], entry["y_sha256"]) for name, entry in manifest["datasets"].items()}


@pytest.mark.parametrize("scale", ["raw", "unit"])
def test_pooled_draw_is_byte_identical_to_the_code_before_the_restructure(synthetic_raw_root, tmp_path, scale):
    root, hashes = synthetic_raw_root
    manifest = prepare_point_sets(root, tmp_path / "p", spec(seed=3, scale=scale), expected_sha256=hashes)
    assert digests(manifest) == OLD_SYNTHETIC[scale]
    # The manifest's digests are those of the arrays in the files.
    for name, (x_digest, _) in OLD_SYNTHETIC[scale].items():
        x, _ = load_point_set(tmp_path / "p", name)
        assert hashlib.sha256(x.numpy().tobytes()).hexdigest() == x_digest


@pytest.mark.parametrize("scale", ["raw", "unit"])
def test_the_papers_sets_from_real_mnist_are_byte_identical_to_the_code_before_the_restructure(
    mnist_raw_dir, tmp_path, scale
):
    manifest = prepare_point_sets(mnist_raw_dir, tmp_path / "p", PointSetSpec(scale=scale))
    assert digests(manifest) == OLD_REAL[scale]


# ------------------------------------------------------------------------------------------------
# random_draw="image"
# ------------------------------------------------------------------------------------------------


def narrow_arrays() -> dict[str, np.ndarray]:
    """Synthetic MNIST whose images are black in the top-left quadrant and grey 100-120 elsewhere."""
    arrays = synthetic_arrays()
    for name in (TRAIN_IMAGES, TEST_IMAGES):
        images = (arrays[name] % 21 + 100).astype(np.uint8)
        images[:, :14, :14] = 0
        arrays[name] = images
    return arrays


def test_image_draw_pools_uniform_28x28_images(make_raw_root, tmp_path):
    root, hashes = make_raw_root(narrow_arrays())
    manifest = prepare_point_sets(root, tmp_path / "image", spec(seed=3, pool=2, random_draw="image"),
                                  expected_sha256=hashes)
    assert manifest["random_draw"] == "image"
    assert manifest["datasets"]["random1"]["description"] == (
        "each 28x28 pixel, then pooled: uniform between its minimum and maximum over the train set")
    random1, _ = load_point_set(tmp_path / "image", "random1")
    random2, _ = load_point_set(tmp_path / "image", "random2")
    assert random1.shape == random2.shape == (40, 4)

    # random1: each of the 784 pixels uniform between its min and max over the train images, then
    # pooled, so each pooled value lies between the pooled minima and the pooled maxima.
    prepare_point_sets(root, tmp_path / "full", spec(seed=3, pool=28), expected_sha256=hashes)
    train_images = load_point_set(tmp_path / "full", "train")[0].reshape(-1, 1, 28, 28)
    pooled_low = F.adaptive_avg_pool2d(train_images.min(dim=0).values.unsqueeze(0), 2).flatten()
    pooled_high = F.adaptive_avg_pool2d(train_images.max(dim=0).values.unsqueeze(0), 2).flatten()
    assert bool(((random1 >= pooled_low) & (random1 <= pooled_high)).all())
    assert torch.equal(random1[:, 0], torch.zeros(40, dtype=torch.float64))  # the black quadrant stays black
    # A mean of 196 uniforms on about [100, 120]: near 110, sd about 5.8 / 14 = 0.4.
    assert abs(float(random1[:, 1:].mean()) - 110.0) < 1.0
    assert float(random1[:, 1:].std()) < 1.5

    # random2: the mean of 196 uniforms on 0-255 concentrates near 127.5 (sd 73.6 / 14 = 5.3) ...
    assert abs(float(random2.mean()) - 127.5) < 3.0
    assert 3.0 < float(random2.std()) < 8.0
    # ... where the pooled draw spreads over the whole grey range (sd 73.6).
    prepare_point_sets(root, tmp_path / "pooled", spec(seed=3, pool=2), expected_sha256=hashes)
    pooled_random2, _ = load_point_set(tmp_path / "pooled", "random2")
    assert float(pooled_random2.std()) > 60.0


def test_image_draw_at_six_by_six_concentrates_and_scales(make_raw_root, tmp_path):
    root, hashes = make_raw_root(narrow_arrays())
    for scale in ("raw", "unit"):
        prepare_point_sets(root, tmp_path / scale, spec(seed=3, random_draw="image", scale=scale), expected_sha256=hashes)
    raw2, unit2 = (load_point_set(tmp_path / scale, "random2")[0] for scale in ("raw", "unit"))
    # Windows of 25 to 36 pixels: sd between 73.6 / 6 = 12.3 and 73.6 / 5 = 14.7.
    assert abs(float(raw2.mean()) - 127.5) < 3.0 and 10.0 < float(raw2.std()) < 17.0
    # Drawn as grey levels and divided by 255 like the images (not drawn on 0-1).
    assert torch.allclose(unit2, raw2 / 255.0, rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------------------------
# Reading a set back
# ------------------------------------------------------------------------------------------------


def test_load_point_set_refuses_a_file_with_one_flipped_byte(prepared):
    out, _, _, _ = prepared
    path = out / "random1.pt"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0x01
    path.write_bytes(bytes(payload))
    with pytest.raises(CorruptFileError, match="differs from the SHA-256") as caught:
        load_point_set(out, "random1")
    assert str(path) in str(caught.value)
    assert str(caught.value).endswith("; delete it and rerun prepare_data")  # what to do about it
    load_point_set(out, "random2")  # the others still load


def test_load_point_set_refuses_a_missing_manifest_or_file(prepared):
    out, _, _, _ = prepared
    (out / "test.pt").unlink()
    with pytest.raises(CorruptFileError, match="prepare_data") as caught:
        load_point_set(out, "test")
    assert str(out / "test.pt") in str(caught.value)
    (out / "manifest.json").unlink()
    with pytest.raises(CorruptFileError, match="prepare_data") as caught:
        load_point_set(out, "train")
    assert str(out / "manifest.json") in str(caught.value)


@pytest.mark.parametrize("manifest_text", ["{not json", '{"datasets": {}}', "[]"])
def test_load_point_set_refuses_a_corrupt_manifest(prepared, manifest_text):
    out, _, _, _ = prepared
    (out / "manifest.json").write_text(manifest_text)
    with pytest.raises(CorruptFileError, match="rerun prepare_data") as caught:
        load_point_set(out, "train")
    assert str(out / "manifest.json") in str(caught.value)


def replace_set(out, name: str, content) -> None:
    """Write ``content`` as the set's file and record its digest, as if prepare had written it."""
    buffer = io.BytesIO()
    torch.save(content, buffer)
    (out / f"{name}.pt").write_bytes(buffer.getvalue())
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["datasets"][name]["file_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "content, message",
    [
        ({"x": torch.zeros(2, 3, dtype=torch.float64)}, "expected a dict with keys 'x' and 'y'"),
        ({"x": torch.zeros(2, 3), "y": torch.zeros(2, dtype=torch.int64)}, "expected x float64"),
        ({"x": torch.zeros(2, 3, dtype=torch.float64), "y": torch.zeros(2)}, "expected x float64"),
        ({"x": torch.zeros(6, dtype=torch.float64), "y": torch.zeros(6, dtype=torch.int64)}, "expected x float64"),
        ({"x": torch.zeros(2, 3, dtype=torch.float64), "y": torch.zeros(3, dtype=torch.int64)}, "expected x float64"),
        ({"x": [[0.0, 1.0]], "y": torch.zeros(1, dtype=torch.int64)}, "expected x float64"),
        ({"x": torch.zeros(1, 2, dtype=torch.float64), "y": [0]}, "expected x float64"),
    ],
    ids=["keys", "x-dtype", "y-dtype", "x-ndim", "lengths", "x-list", "y-list"],
)
def test_load_point_set_refuses_a_file_that_does_not_hold_a_point_set(prepared, content, message):
    out, _, _, _ = prepared
    replace_set(out, "test", content)
    with pytest.raises(CorruptFileError, match=message) as caught:
        load_point_set(out, "test")
    assert str(out / "test.pt") in str(caught.value)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return torch.zeros(1, 2, dtype=torch.float64)


class Payload:
    """Unpickling it calls a function: what a crafted file would do to run code."""

    def __reduce__(self):
        return (_record_unpickling, ())


def test_load_point_set_never_unpickles_code(prepared):
    out, _, _, _ = prepared
    replace_set(out, "test", {"x": Payload(), "y": torch.zeros(1, dtype=torch.int64)})
    UNPICKLED.clear()
    with pytest.raises(Exception):  # noqa: B017  (torch's own UnpicklingError: refused before anything runs)
        load_point_set(out, "test")
    assert UNPICKLED == []


def test_load_point_set_returns_what_was_prepared(prepared):
    out, _, _, _ = prepared
    x, y = torch.arange(6.0, dtype=torch.float64).reshape(3, 2), torch.tensor([0, 1, 0])
    replace_set(out, "test", {"x": x, "y": y})
    loaded_x, loaded_y = load_point_set(out, "test")
    assert torch.equal(loaded_x, x) and torch.equal(loaded_y, y)


def test_load_point_set_validates_the_name(prepared):
    out, _, _, _ = prepared
    with pytest.raises(ValueError, match="name must be one of"):
        load_point_set(out, "validation")
