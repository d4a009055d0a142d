import importlib.metadata as metadata
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch

from course_utils import i18n
from course_utils.checkpoint import save_checkpoint
from course_utils.cli import doctor


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """The details are asserted in English (whatever the locale) unless a test says zh."""
    monkeypatch.setenv("COURSE_LANG", "en")


def test_python_version_check():
    assert doctor.check_python((3, 11, 7)).status == "OK"
    old = doctor.check_python((3, 8, 10))
    assert old.status == "FAIL" and ">= 3.10" in old.detail


@pytest.mark.parametrize("found, status", [("2.14.1+cu130", "OK"), ("2.4", "OK"), ("2.3.1", "FAIL"),
                                           ("1.13.0", "FAIL")])
def test_package_version_check(found, status):
    assert doctor.check_package("torch", "2.4", version_of=lambda _: found).status == status


def test_missing_package_says_how_to_install():
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    check = doctor.check_package("nbval", "0.11", version_of=missing)
    assert check.status == "FAIL" and "make install" in check.detail


def test_main_exits_nonzero_on_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "run_checks", lambda network=True: [
        doctor.Check("Python", "OK", "3.11"), doctor.Check("torch", "FAIL", "not installed")])
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "[FAIL] torch: not installed" in out and "1 problem(s) to fix" in out


def test_warnings_do_not_fail(monkeypatch):
    monkeypatch.setattr(doctor, "run_checks", lambda network=True: [doctor.Check("network", "WARN", "offline")])
    assert doctor.main() == 0


@pytest.mark.slow  # 5 s in CI: a fresh interpreter imports torch, torchvision and the course
def test_command_line_runs_here():
    result = subprocess.run([sys.executable, "-m", "course_utils", "doctor", "--offline"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "COURSE_LANG": "en"})
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("Python", "torch", "torchvision", "ipywidgets", "JupyterLab widgets", "device",
                 "offline data", "cache", "CJK font"):
        assert f"] {name}:" in result.stdout
    assert "[FAIL]" not in result.stdout


def test_unwritable_cache_is_a_failure(tmp_path, monkeypatch):
    target = tmp_path / "not-a-dir"
    target.write_text("a file where the cache folder should be")
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    check = doctor.check_cache()
    assert check.status == "FAIL" and "COURSE_DATA_DIR" in check.detail


def test_writable_cache_lists_models(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    save_checkpoint(tmp_path / "model.pt", {"model": {"w": torch.ones(3)}})
    check = doctor.check_cache()
    assert check.status == "OK" and "model.pt" in check.detail


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped byte"])
def test_damaged_cached_model_is_a_failure(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    path = save_checkpoint(tmp_path / "model.pt", {"model": {"w": torch.arange(1000.0)}})
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[data.index(torch.arange(1000.0)[500:502].numpy().tobytes())] ^= 1
    path.write_bytes({"empty": b"", "truncated": bytes(data[:len(data) // 2]),
                      "flipped byte": bytes(data)}[damage])
    check = doctor.check_cache()
    assert check.status == "FAIL" and "model.pt" in check.detail and "Delete" in check.detail


def test_network_probe_is_bounded_when_dns_hangs(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(doctor.socket, "getaddrinfo", lambda *a, **k: release.wait(30))
    start = time.perf_counter()
    check = doctor.check_network(timeout=0.3)
    release.set()
    assert time.perf_counter() - start < 2
    assert check.status == "WARN" and "DNS lookup" in check.detail


def test_network_probe_reports_a_failed_lookup(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(doctor.socket, "getaddrinfo", no_dns)
    check = doctor.check_network(timeout=0.3)
    assert check.status == "WARN" and "Name or service not known" in check.detail


def test_floors_come_from_the_installed_package_and_match_pyproject():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    expected = dict(r.split(">=") for r in pyproject["project"]["dependencies"])
    assert doctor.required_versions() == expected  # stale metadata? re-run `make install`


def test_floor_parsing_skips_extras_and_unpinned():
    requires = ["torch>=2.4", "numpy >= 1.24", "nbval>=0.11; extra == 'dev'", "tqdm"]
    assert doctor.required_versions(requires) == {"torch": "2.4", "numpy": "1.24"}


# ---- the Chinese font and the two languages ------------------------------------------------

class Font:  # what matplotlib's font list holds, as far as the check reads it
    def __init__(self, name):
        self.name = name


def test_cjk_font_found_is_named_and_the_figures_use_the_same_one():
    check = doctor.check_cjk_font([Font("DejaVu Sans"), Font("Noto Sans CJK JP"), Font("Noto Sans CJK SC")],
                                  rescan=lambda: pytest.fail("no rescan when the font is there"))
    assert check.status == "OK" and "Noto Sans CJK SC" in check.detail  # SC first: CJK_FONTS' order
    assert doctor.check_cjk_font().status == "OK" or i18n.cjk_font() is None  # one detection


@pytest.mark.parametrize("platform, how", [
    ("linux", ["sudo apt-get install fonts-noto-cjk", "sudo dnf install google-noto-sans-cjk-fonts"]),
    ("darwin", ["PingFang SC", "brew install --cask font-noto-sans-cjk"]),
    ("win32", ["Microsoft YaHei"]),
])
def test_no_cjk_font_is_a_warning_that_says_how_to_install_one_here(platform, how):
    i18n.set_language("en")
    try:
        check = doctor.check_cjk_font([Font("DejaVu Sans")], rescan=lambda: [Font("DejaVu Sans")], platform=platform)
    finally:
        i18n.set_language(None)
    assert check.status == "WARN"
    assert "Chinese notebooks" in check.detail and "English notebooks are unaffected" in check.detail
    assert all(step in check.detail for step in how), check.detail
    assert "restart the kernel" in check.detail and "fontlist-" in check.detail


def test_a_font_installed_after_matplotlib_cached_its_list_is_told_apart():
    i18n.set_language("en")
    try:
        check = doctor.check_cjk_font([Font("DejaVu Sans")], rescan=lambda: [Font("WenQuanYi Zen Hei")])
    finally:
        i18n.set_language(None)
    assert check.status == "WARN" and "WenQuanYi Zen Hei is installed" in check.detail
    assert "font cache" in check.detail and "apt-get" not in check.detail


#: Words a Chinese doctor line may keep in Latin letters: tags, package, command, font and product
#: names, as they are typed or shown on screen. Anything else is English left untranslated.
KEPT = set("""OK WARN FAIL Python README make lab install pip U e dev jupyterlab_widgets ipywidgets Error
displaying widget JupyterLab CPU GPU cuda mps cpu Apple scikit learn COURSE_DATA_DIR DNS ImageNet CIFAR
Colab Debian Ubuntu sudo apt get fonts noto cjk Fedora dnf google sans brew cask font macOS Hiragino Sans
GB PingFang SC Windows Microsoft YaHei Noto CJK matplotlib fontlist json s root cache""".split())


def untranslated(line: str) -> list[str]:
    """The Latin-letter words of a Chinese line that are not names (paths and host names aside)."""
    line = re.sub(r"[^\s（）]*[/.][^\s（）]*", " ", line)  # paths, URLs, host names, versions
    return [w for w in re.findall(r"[A-Za-z_]+", line) if w not in KEPT and w not in doctor.required_versions()]


def test_the_untranslated_word_finder_can_fail():
    assert untranslated("[WARN] 网络：cannot reach the host") == ["cannot", "reach", "the", "host"]
    assert untranslated("[OK] torch：2.14.1，路径 /tmp/some where") == ["where"]


def run_doctor(capsys, language, monkeypatch):
    offline = ("{host} unreachable ({error}): the course runs offline on its own data and models; ImageNet weights "
               "and CIFAR-10 need a network (e.g. Colab)")
    monkeypatch.setattr(doctor, "check_network", lambda: doctor.Check(doctor.message(doctor.MESSAGES, "network"),
                        "WARN", doctor.message(doctor.MESSAGES, offline, host="example.org", error=110)))
    i18n.set_language(language)
    try:
        doctor.main(network=True)
    finally:
        i18n.set_language(None)
    return [line for line in capsys.readouterr().out.splitlines() if line]


def test_every_doctor_line_is_in_the_language_in_use(capsys, monkeypatch):
    english, chinese = run_doctor(capsys, "en", monkeypatch), run_doctor(capsys, "zh", monkeypatch)
    assert len(english) == len(chinese) >= 10
    for line in english:
        assert not re.search(r"[\u4e00-\u9fff]", line), line
    for line in chinese:
        assert re.search(r"[\u4e00-\u9fff]", line) or re.fullmatch(r"\[\w+\] [\w.-]+：\S+", line), line
        assert not untranslated(line), (line, untranslated(line))


def test_no_english_left_in_any_chinese_doctor_message():
    """Every message, also those this machine does not print (both languages and their fields:
    tests/test_i18n.py, for every message table)."""
    for english, chinese in doctor.MESSAGES.items():
        assert not untranslated(re.sub(r"\{[^}]*\}", " ", chinese)), (english, chinese)
