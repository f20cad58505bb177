"""The CIFAR-10 loader on official-format files, bad files, downloads; the DLN data; batches."""

import functools
import hashlib
import http.server
import tarfile
import threading

import jax
import numpy as np
import pytest

from bn_smooth import checks, cifar10, tasks
from bn_smooth import data as data_lib
from bn_smooth.configs import vgg_cifar
from bn_smooth.errors import ConfigError
from tests.conftest import make_fake_cifar, shared_cifar_dir


def test_loads_official_format_folder(fake_cifar):
    raw = cifar10.load(fake_cifar)
    assert raw["train_images"].shape == (5 * 64, 32, 32, 3)
    assert raw["train_images"].dtype == np.uint8
    assert raw["test_images"].shape == (40, 32, 32, 3)
    assert raw["train_labels"].dtype == np.int32
    # Rows are R, G, B planes: the first 1024 bytes of a row are the red channel.
    row = cifar10.pickle.loads((fake_cifar / "data_batch_1").read_bytes(), encoding="bytes")[
        b"data"
    ][0]
    np.testing.assert_array_equal(raw["train_images"][0, :, :, 0].ravel(), row[:1024])
    np.testing.assert_array_equal(raw["train_images"][0, :, :, 2].ravel(), row[2048:])
    # The folder holding cifar-10-batches-py works as well as the folder itself.
    again = cifar10.load(fake_cifar.parent)
    np.testing.assert_array_equal(again["test_images"], raw["test_images"])


def make_archive(folder, path):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=cifar10.FOLDER_NAME)
    return path


def test_loads_archive_and_env_var(fake_cifar, tmp_path, monkeypatch):
    archive = make_archive(fake_cifar, tmp_path / cifar10.ARCHIVE_NAME)
    from_folder = cifar10.load(fake_cifar)
    from_archive = cifar10.load(archive)
    np.testing.assert_array_equal(from_archive["train_images"], from_folder["train_images"])
    monkeypatch.setenv(cifar10.ENV_VAR, str(tmp_path))  # a folder holding the archive
    np.testing.assert_array_equal(cifar10.load()["test_labels"], from_folder["test_labels"])


def test_any_number_of_images_per_batch_file(tmp_path):
    folder = make_fake_cifar(tmp_path, per_batch=7, test=3)
    raw = cifar10.load(folder)
    assert len(raw["train_images"]) == 35 and len(raw["test_labels"]) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape"])
def test_corrupt_file_names_the_file_and_the_fix(tmp_path, damage):
    folder = make_fake_cifar(tmp_path, per_batch=8, test=4)
    victim = folder / "data_batch_3"
    raw = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        victim.write_bytes(b"not a pickle at all")
    else:
        cifar10.write_batch(victim, np.zeros((4, 16, 16, 3), np.uint8), [0] * 4)
    with pytest.raises(cifar10.DataError) as err:
        cifar10.load(folder)
    message = str(err.value)
    # A download would not replace a file that is there, so the fix is the file itself.
    assert "data_batch_3" in message and "Replace it with the official file" in message
    assert "download" not in message


def test_truncated_archive_is_a_clear_error(fake_cifar, tmp_path):
    archive = make_archive(fake_cifar, tmp_path / cifar10.ARCHIVE_NAME)
    archive.write_bytes(archive.read_bytes()[:5000])
    with pytest.raises(cifar10.DataError, match=cifar10.ARCHIVE_NAME) as err:
        cifar10.load(archive)
    assert "Replace it" in str(err.value) and "download" not in str(err.value)


def test_missing_folder_and_missing_file(tmp_path, no_cifar_env):
    with pytest.raises(cifar10.DataError, match="not found.*--config.download=True"):
        cifar10.load(tmp_path / "absent")
    with pytest.raises(cifar10.DataError, match="not found"):
        cifar10.load()  # nothing in the env var or the default folder
    folder = make_fake_cifar(tmp_path, per_batch=4, test=4)
    (folder / "data_batch_5").unlink()
    with pytest.raises(cifar10.DataError, match="data_batch_5 is missing"):
        cifar10.load(folder)


@pytest.fixture
def file_server(tmp_path, monkeypatch):
    """Serve tmp_path/'served' on a loopback port; yields (that folder, the base URL).
    Downloads are allowed: the tests point them at this server."""
    monkeypatch.delenv(cifar10.OFFLINE_ENV)
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_md5_then_loads(fake_cifar, tmp_path, file_server, capsys):
    root, base = file_server
    archive = make_archive(fake_cifar, root / cifar10.ARCHIVE_NAME)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dest = tmp_path / "cache"
    raw = cifar10.load(
        dest, download_if_missing=True, url=f"{base}/{cifar10.ARCHIVE_NAME}", md5=md5
    )
    assert len(raw["train_images"]) == 5 * 64
    assert (dest / cifar10.ARCHIVE_NAME).is_file()
    assert "downloading CIFAR-10" in capsys.readouterr().err  # the progress bar
    # A second load finds the archive and does not download again.
    cifar10.load(dest, download_if_missing=True, url=f"{base}/absent", md5=md5)


def test_the_main_command_downloads_cifar10_found_nowhere(
    fake_cifar, tmp_path, file_server, no_cifar_env, monkeypatch, caplog
):
    """The main command's data step, with an empty cache and a local server standing in
    for the official host: the archive is fetched, checked and used with no extra flag."""
    from bn_smooth.configs import reproduce
    from experiments import suite as suite_lib

    root, base = file_server
    archive = make_archive(fake_cifar, root / cifar10.ARCHIVE_NAME)
    monkeypatch.setattr(cifar10, "CIFAR10_URL", f"{base}/{cifar10.ARCHIVE_NAME}")
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", cifar10.md5sum(archive))
    suite = reproduce.get_config("scale=smoke")
    suite.runs = [run for run in suite.runs if run.name == "vgg_none"]  # one VGG run,
    suite.runs[0].update(probes=(), every={})  # with no probes: they would only compile
    with (
        caplog.at_level("INFO"),
        suite_lib.prepare_and_train(suite, tmp_path / "runs", tmp_path / "figures") as (
            _,
            messages,
        ),
    ):
        pass
    cached = cifar10.DEFAULT_DIR / cifar10.ARCHIVE_NAME
    assert cached.read_bytes() == archive.read_bytes()  # fetched, checked, kept
    assert f"from {base}/{cifar10.ARCHIVE_NAME} into {cifar10.DEFAULT_DIR}" in caplog.text
    assert messages["vgg_none"].startswith("finished")  # and trained on


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_with_downloads_off_a_missing_cifar10_is_one_line(
    tmp_path, no_cifar_env, how, monkeypatch, capsys
):
    from bn_smooth.configs import reproduce
    from experiments import suite as suite_lib

    suite = reproduce.get_config("scale=smoke")
    if how == "flag":
        monkeypatch.delenv(cifar10.OFFLINE_ENV)
        suite.download = False
    with pytest.raises(SystemExit) as exit_info:
        with suite_lib.prepare_and_train(suite, tmp_path / "runs", tmp_path / "figures"):
            pass
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(cifar10.DEFAULT_DIR) in lines[0], lines
    assert "--config.download=True" in lines[0]
    assert (cifar10.OFFLINE_ENV in lines[0]) == (how == "environment")
    assert not (tmp_path / "runs").exists()


def test_without_a_network_the_error_names_url_folder_and_variable(tmp_path):
    url = "http://127.0.0.1:9/cifar-10-python.tar.gz"  # the discard port: refused
    with pytest.raises(cifar10.DataError) as err:
        cifar10.download(tmp_path / "cache", url=url)
    message = str(err.value)
    assert url in message and str(tmp_path / "cache") in message
    assert cifar10.ENV_VAR in message
    assert not list((tmp_path / "cache").iterdir())  # no partial file left


def test_download_with_wrong_md5_keeps_nothing(fake_cifar, tmp_path, file_server):
    root, base = file_server
    make_archive(fake_cifar, root / cifar10.ARCHIVE_NAME)
    dest = tmp_path / "cache"
    with pytest.raises(cifar10.DataError, match="md5"):
        cifar10.load(
            dest, download_if_missing=True, url=f"{base}/{cifar10.ARCHIVE_NAME}"
        )  # the official md5
    assert list(dest.iterdir()) == []


def test_download_failure_is_a_clear_error(tmp_path, file_server):
    _, base = file_server
    with pytest.raises(cifar10.DataError, match="could not download"):
        cifar10.download(tmp_path / "cache", url=f"{base}/absent.tar.gz")
    assert list((tmp_path / "cache").iterdir()) == []


def check_official_format(raw):
    """What the official format guarantees: 50,000 training images, the pixel statistics
    and first labels of the official training set, and a test batch of any size up to
    10,000 (the official one has 10,000; the copy beside this project its first 1,000)
    with labels 0-9."""
    assert raw["train_images"].shape == (50_000, 32, 32, 3)
    assert raw["train_images"].dtype == np.uint8
    np.testing.assert_array_equal(raw["train_labels"][:5], [6, 9, 9, 4, 1])
    mean, std = cifar10.channel_stats(raw["train_images"])
    np.testing.assert_allclose(mean, [125.307, 122.950, 113.865], atol=1e-3)
    np.testing.assert_allclose(std, [62.993, 62.089, 66.705], atol=1e-3)
    assert np.bincount(raw["train_labels"]).tolist() == [5000] * 10
    n = len(raw["test_images"])
    assert 0 < n <= 10_000 and raw["test_images"].shape == (n, 32, 32, 3)
    assert raw["test_labels"].shape == (n,) and set(raw["test_labels"]) <= set(range(10))


@pytest.mark.skipif(shared_cifar_dir() is None, reason="real CIFAR-10 not beside the project")
def test_real_cifar10_is_in_the_official_format():
    check_official_format(cifar10.load(shared_cifar_dir()))


@pytest.mark.skipif(shared_cifar_dir() is None, reason="real CIFAR-10 not beside the project")
def test_a_full_official_test_batch_of_10000_images_passes_the_same_check(tmp_path):
    folder = tmp_path / cifar10.FOLDER_NAME
    folder.mkdir()
    for name in cifar10.TRAIN_FILES:
        (folder / name).symlink_to(shared_cifar_dir() / name)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8)
    cifar10.write_batch(
        folder / cifar10.TEST_FILE, images, np.arange(10_000) % 10, "testing batch 1 of 1"
    )
    raw = cifar10.load(folder)
    check_official_format(raw)
    assert len(raw["test_images"]) == 10_000
    raw["test_labels"] = raw["test_labels"] + 1  # a label 10: the check must catch it
    with pytest.raises(AssertionError):
        check_official_format(raw)


def test_gaussian_regression_is_seeded_and_linear():
    x, y = data_lib.gaussian_regression(3, num_samples=50, dim=4)
    x2, y2 = data_lib.gaussian_regression(3, num_samples=50, dim=4)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    a, *_ = np.linalg.lstsq(np.asarray(x), np.asarray(y), rcond=None)
    np.testing.assert_allclose(np.asarray(x) @ a, y, atol=1e-4)
    assert not np.allclose(data_lib.gaussian_regression(4, 50, 4)[0], x)


def test_batches_cover_each_epoch_once_and_repeat_per_seed():
    key = jax.random.key(0)
    n, bs = 50, 8  # 6 batches an epoch, 2 examples dropped

    def epoch(e):
        perm = data_lib.epoch_permutation(key, e, n)
        return np.concatenate(
            [data_lib.batch_indices(t, n, bs, perm) for t in range(6 * e, 6 * e + 6)]
        )

    epoch0, epoch1 = epoch(0), epoch(1)
    assert len(set(epoch0.tolist())) == 48
    assert not np.array_equal(epoch0, epoch1)
    # A task draws the same batches whether or not it is handed its epoch's order.
    task = tasks.Task("toy", None, None, bs, (1,))
    data = data_lib.Dataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))
    for t in (0, 7, 13):
        x, y = task.batch(data, key, t)
        np.testing.assert_array_equal(
            y, np.concatenate([epoch0, epoch1, epoch(2)])[8 * t : 8 * t + 8]
        )
        np.testing.assert_array_equal(
            task.batch(data, key, t, task.epoch_order(data, key, t))[1], y
        )


def test_channel_stats_match_numpy():
    images = np.random.default_rng(0).integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    mean, std = cifar10.channel_stats(images)
    flat = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, flat.std(0), rtol=1e-6)


@pytest.mark.parametrize("inputs", data_lib.INPUTS)
def test_the_models_inputs_are_standardized_or_pixels_over_255(fake_cifar, inputs):
    config = vgg_cifar.get_config(f"scale=smoke,inputs={inputs}")
    config.data_dir = str(fake_cifar)
    task, data = tasks.make_task(config)
    x, _ = task.batch(data, jax.random.key(0), 0)
    raw = cifar10.load(fake_cifar)
    pixels = np.asarray(raw["train_images"], np.float64)
    if inputs == "unit":  # pixels / 255, not centered
        expected = pixels / 255
    else:  # per channel, with the training set's own mean and std
        expected = (pixels - pixels.reshape(-1, 3).mean(0)) / pixels.reshape(-1, 3).std(0)
    first = np.asarray(task.epoch_order(data, jax.random.key(0), 0))[: config.batch_size]
    np.testing.assert_allclose(x, expected[first], rtol=1e-5, atol=1e-5)


def test_an_unknown_preprocessing_or_head_init_is_refused_by_name():
    with pytest.raises(ConfigError, match="inputs 'raw' is not a preprocessing; valid: "):
        checks.check_config(vgg_cifar.get_config("scale=smoke,inputs=raw"))
    with pytest.raises(ConfigError, match="model.head_init 'ones' is not an initializer"):
        checks.check_config(vgg_cifar.get_config("scale=smoke,head_init=ones"))
