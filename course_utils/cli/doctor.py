"""Environment check: ``python -m course_utils doctor`` prints [OK]/[WARN]/[FAIL] per requirement.

A [FAIL] is something the learner must fix (the command then exits with status 1); a [WARN] is
optional (no GPU, no network for the online extras, no Chinese font for the Chinese notebooks'
figures). Paste the output into a bug report. Every line is in the language in use
(``i18n.language()``: Chinese under ``COURSE_LANG=zh``, a zh locale or a Chinese notebook); the
status tags, package names and commands stay as they are typed. The texts are :data:`MESSAGES`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from course_utils.i18n import cjk_font, message

__all__ = ["run_checks", "main"]

MIN_PYTHON = (3, 10)
DISTRIBUTION = "course-utils"  # this package, as pip knows it

#: Every line the doctor prints (:mod:`course_utils.i18n`'s one shape): English template -> Chinese, same fields.
MESSAGES: dict[str, str] = {
    "[{status}] {name}: {detail}": "[{status}] {name}：{detail}",
    # the names of the checks (package names are their own names in both languages)
    "device": "计算设备",
    "JupyterLab widgets": "JupyterLab 交互控件",
    "offline data": "离线数据",
    "cache": "缓存",
    "network": "网络",
    "CJK font": "中文字体",
    # the details
    "{found}; the course needs Python >= {need} (see README: make lab)":
        "{found}；本课程需要 Python >= {need}（见 README：make lab）",
    "not installed; run `make install` (or pip install -e '.[dev]')":
        "未安装；请运行 `make install`（或 pip install -e '.[dev]'）",
    "{found} is older than {minimum}; upgrade: pip install -U '{dist}>={minimum}'":
        "{found} 低于要求的 {minimum}；请升级：pip install -U '{dist}>={minimum}'",
    "the course package is not installed; run `make install` (or pip install -e '.[dev]')":
        "课程包未安装；请运行 `make install`（或 pip install -e '.[dev]'）",
    "jupyterlab_widgets is missing: sliders will show 'Error displaying widget'; pip install -U ipywidgets":
        "缺少 jupyterlab_widgets：滑块等控件会显示 'Error displaying widget'；请运行 pip install -U ipywidgets",
    "mps (Apple GPU)": "mps（Apple 芯片的 GPU）",
    "cpu only, {threads} threads: every notebook runs on a CPU, in a few minutes; a GPU only makes the optional parts "
    "faster":
        "只有 CPU，{threads} 个线程：每个笔记本都能在 CPU 上几分钟内跑完；GPU 只会让可选部分更快",
    "scikit-learn digits: {n} images": "scikit-learn 手写数字：{n} 张图像",
    "scikit-learn's digits did not load ({error}); reinstall: pip install -U scikit-learn":
        "scikit-learn 的手写数字数据集加载失败（{error}）；请重新安装：pip install -U scikit-learn",
    "cannot write the course's cache ({error}); set COURSE_DATA_DIR to a writable folder":
        "无法写入课程的缓存（{error}）；请把 COURSE_DATA_DIR 设为一个可写的文件夹",
    "damaged cached model(s): {models}. Delete them: the notebook that needs a model rebuilds it":
        "缓存的模型已损坏：{models}。请删除它们：需要模型的笔记本会重新生成",
    "{path} (cached models: {names})": "{path}（已缓存的模型：{names}）",
    "none yet": "暂无",
    "DNS lookup of {host} took more than {timeout:g} s": "{host} 的 DNS 查询超过 {timeout:g} 秒",
    "{host} unreachable ({error}): the course runs offline on its own data and models; ImageNet weights and CIFAR-10 "
    "need a network (e.g. Colab)":
        "无法访问 {host}（{error}）：课程用自带的数据和模型即可离线运行；ImageNet 权重和 CIFAR-10 需要联网（例如在 Col"
        "ab 上）",
    "{host} reachable: ImageNet weights and CIFAR-10 can be downloaded":
        "可以访问 {host}：能下载 ImageNet 权重和 CIFAR-10",
    "{font} (the Chinese notebooks' figures are labelled in Chinese)": "{font}（中文笔记本的图用中文标注）",
    "{font} is installed but matplotlib's font cache predates it, so the Chinese notebooks' figures stay in English: "
    "delete {cache} and restart the kernel":
        "已安装 {font}，但 matplotlib 的字体缓存比它旧，中文笔记本的图仍用英文标注：删除 {cache}，然后重启内核",
    "none found: the Chinese notebooks (notebooks/zh/) label their figures in English (English notebooks are "
    "unaffected). To get Chinese labels: {how}; then delete {cache} and restart the kernel":
        "未找到：中文笔记本（notebooks/zh/）的图只能用英文标注（英文笔记本不受影响）。要显示中文标注：{how}；"
        "然后删除 {cache}，再重启内核",
    "Debian/Ubuntu: sudo apt-get install fonts-noto-cjk; Fedora: sudo dnf install google-noto-sans-cjk-fonts":
        "Debian/Ubuntu 上运行 sudo apt-get install fonts-noto-cjk，Fedora 上运行 sudo dnf install google-noto-sans-cjk"
        "-fonts",
    "macOS ships Hiragino Sans GB and PingFang SC; if neither is found: brew install --cask font-noto-sans-cjk":
        "macOS 自带冬青黑体（Hiragino Sans GB）和苹方（PingFang SC）；都找不到时：brew install --cask font-noto-sans-c"
        "jk",
    "Windows ships Microsoft YaHei; if it is missing, add the optional feature \"Chinese (Simplified) Supplemental "
    "Fonts\" (Settings > Apps > Optional features)":
        "Windows 自带微软雅黑（Microsoft YaHei）；若缺失，请在“设置 > 应用 > 可选功能”中添加“中文(简体)补充字体”",
    # the last line of main()
    "{n} problem(s) to fix.": "有 {n} 个问题需要修复。",
    "All required checks passed.": "所有必需的检查都已通过。",
}


def required_versions(requires: list[str] | None = None) -> dict[str, str]:
    """The course's run-time floors, ``{"torch": "2.4", ...}``, read from the installed package's
    metadata (that is, from pyproject.toml: one list, not a copy). Extras (``[dev]``) are left out."""
    if requires is None:
        requires = metadata.requires(DISTRIBUTION) or []
    floors = {}
    for requirement in requires:
        found = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9.]*)\s*(;.*)?$", requirement)
        if found and "extra" not in (found.group(3) or ""):
            floors[found.group(1)] = found.group(2)
    return floors


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "OK", "WARN" or "FAIL"
    detail: str

    def __str__(self) -> str:
        return message(MESSAGES, "[{status}] {name}: {detail}", status=self.status, name=self.name, detail=self.detail)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_python(version_info=sys.version_info) -> Check:
    found = ".".join(map(str, version_info[:3]))
    if tuple(version_info[:2]) >= MIN_PYTHON:
        return Check("Python", "OK", found)
    need = ".".join(map(str, MIN_PYTHON))
    return Check("Python", "FAIL", message(MESSAGES, "{found}; the course needs Python >= {need} (see README: make "
                                                     "lab)", found=found, need=need))


def check_package(dist: str, minimum: str, version_of: Callable[[str], str] = metadata.version) -> Check:
    try:
        found = version_of(dist)
    except metadata.PackageNotFoundError:
        return Check(dist, "FAIL", message(MESSAGES, "not installed; run `make install` (or pip install -e '.[dev]')"))
    if _version_tuple(found) < _version_tuple(minimum):
        return Check(dist, "FAIL", message(MESSAGES, "{found} is older than {minimum}; upgrade: pip install -U "
                                                     "'{dist}>={minimum}'", found=found, minimum=minimum, dist=dist))
    return Check(dist, "OK", found)


def check_widgets() -> Check:
    """ipywidgets needs JupyterLab's widget extension (jupyterlab_widgets) to render."""
    try:
        found = metadata.version("jupyterlab_widgets")
    except metadata.PackageNotFoundError:
        return Check(message(MESSAGES, "JupyterLab widgets"), "FAIL",
                     message(MESSAGES, "jupyterlab_widgets is missing: sliders will show 'Error displaying widget'; "
                                       "pip install -U ipywidgets"))
    return Check(message(MESSAGES, "JupyterLab widgets"), "OK", f"jupyterlab_widgets {found}")


def check_device() -> Check:
    import torch

    from course_utils.repro import get_device

    device, name = get_device(), message(MESSAGES, "device")
    if device.type == "cuda":
        return Check(name, "OK", f"cuda ({torch.cuda.get_device_name(0)})")
    if device.type == "mps":
        return Check(name, "OK", message(MESSAGES, "mps (Apple GPU)"))
    return Check(name, "WARN", message(MESSAGES, "cpu only, {threads} threads: every notebook runs on a CPU, in a few "
                                                 "minutes; a GPU only makes the optional parts faster",
                                                 threads=torch.get_num_threads()))


def check_data() -> Check:
    """The offline target dataset ships with scikit-learn: check it loads."""
    try:
        from sklearn.datasets import load_digits

        n = len(load_digits().target)
    except Exception as exc:  # noqa: BLE001 - report whatever broke
        return Check(message(MESSAGES, "offline data"), "FAIL",
                     message(MESSAGES, "scikit-learn's digits did not load ({error}); reinstall: pip install -U "
                                       "scikit-learn", error=exc))
    return Check(message(MESSAGES, "offline data"), "OK", message(MESSAGES, "scikit-learn digits: {n} images", n=n))


def check_cache() -> Check:
    """Generated data and the course's pretrained model are cached here: it must be writable,
    and every cached model intact (a truncated or damaged one is a problem to fix, not [OK])."""
    import tempfile

    from course_utils.checkpoint import CheckpointError, verify_file
    from course_utils.data import cache_dir

    name = message(MESSAGES, "cache")
    try:
        path = cache_dir()
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check(name, "FAIL", message(MESSAGES, "cannot write the course's cache ({error}); set COURSE_DATA_DIR "
                                                     "to a writable folder", error=exc))
    cached = sorted(path.glob("*.pt"))
    damaged = []
    for model in cached:
        try:
            verify_file(model)
        except CheckpointError as exc:
            damaged.append(f"{model.name} ({exc})")
    if damaged:
        return Check(name, "FAIL", message(MESSAGES, "damaged cached model(s): {models}. Delete them: the notebook "
                                                     "that needs a model rebuilds it", models="; ".join(damaged)))
    names = ", ".join(p.name for p in cached) or message(MESSAGES, "none yet")
    return Check(name, "OK", message(MESSAGES, "{path} (cached models: {names})", path=path, names=names))


def resolve(host: str, port: int, timeout: float) -> list:
    """``socket.getaddrinfo`` bounded by ``timeout`` (it has no timeout of its own): the lookup
    runs in a daemon thread that is abandoned if the resolver hangs. Raises ``OSError``."""
    result: dict = {}

    def lookup() -> None:
        try:
            result["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True, name="doctor-dns")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(message(MESSAGES, "DNS lookup of {host} took more than {timeout:g} s",
                                             host=host, timeout=timeout))
    if "error" in result:
        raise result["error"]
    return result["addresses"]


def check_network(host: str = "download.pytorch.org", port: int = 443, timeout: float = 3.0) -> Check:
    """Can ``host`` be reached? At most about ``2 * timeout`` seconds: DNS, then connect."""
    try:
        family, kind, proto, _, address = resolve(host, port, timeout)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
    except OSError as exc:
        return Check(message(MESSAGES, "network"), "WARN",
                     message(MESSAGES, "{host} unreachable ({error}): the course runs offline on its own data and "
                                       "models; ImageNet weights and CIFAR-10 need a network (e.g. Colab)",
                                       host=host, error=exc.strerror or exc))
    return Check(message(MESSAGES, "network"), "OK",
                 message(MESSAGES, "{host} reachable: ImageNet weights and CIFAR-10 can be downloaded", host=host))


def check_cjk_font(fonts=None, rescan: Callable[[], list] | None = None, platform: str = sys.platform) -> Check:
    """Is there a font that draws Chinese (``i18n.cjk_font``, what the figures use)? Only the
    Chinese notebooks need one, so none is a [WARN] that says how to install one on this system.
    ``fonts``: matplotlib's font list (default: its cached one); ``rescan``: a fresh scan of the
    system's fonts, to tell "not installed" from "installed after matplotlib cached its list"."""
    from matplotlib import font_manager, get_cachedir

    name = message(MESSAGES, "CJK font")
    found = cjk_font(fonts)
    if found is not None:
        return Check(name, "OK", message(MESSAGES, "{font} (the Chinese notebooks' figures are labelled in "
                                                   "Chinese)", font=found))
    cache = f"{get_cachedir()}/fontlist-*.json"
    on_disk = cjk_font((rescan or (lambda: font_manager.FontManager().ttflist))())
    if on_disk is not None:
        return Check(name, "WARN", message(MESSAGES, "{font} is installed but matplotlib's font cache predates it, so "
                                                     "the Chinese notebooks' figures stay in English: delete {cache} "
                                                     "and restart the kernel", font=on_disk, cache=cache))
    if platform == "darwin":
        how = message(MESSAGES, "macOS ships Hiragino Sans GB and PingFang SC; if neither is found: brew install "
                                "--cask font-noto-sans-cjk")
    elif platform == "win32":
        how = message(MESSAGES, "Windows ships Microsoft YaHei; if it is missing, add the optional feature "
                                "\"Chinese (Simplified) Supplemental Fonts\" (Settings > Apps > Optional features)")
    else:
        how = message(MESSAGES, "Debian/Ubuntu: sudo apt-get install fonts-noto-cjk; Fedora: sudo dnf install "
                                "google-noto-sans-cjk-fonts")
    return Check(name, "WARN", message(MESSAGES, "none found: the Chinese notebooks (notebooks/zh/) label their "
                                                 "figures in English (English notebooks are unaffected). To get "
                                                 "Chinese labels: {how}; then delete {cache} and restart the kernel",
                                                 how=how, cache=cache))



def run_checks(network: bool = True) -> list[Check]:
    checks = [check_python()]
    try:
        floors = required_versions()
    except metadata.PackageNotFoundError:
        floors = {}
        checks.append(Check(DISTRIBUTION, "FAIL", message(MESSAGES, "the course package is not installed; run `make "
                                                                    "install` (or pip install -e '.[dev]')")))
    checks += [check_package(dist, minimum) for dist, minimum in floors.items()]
    checks.append(check_widgets())
    if all(c.status != "FAIL" for c in checks if c.name in ("torch", "torchvision")):
        checks.append(check_device())
    checks.append(check_data())
    checks.append(check_cache())
    checks.append(check_cjk_font())
    if network:
        checks.append(check_network())
    return checks


def main(network: bool = True) -> int:
    """Print every check; return 1 if any failed (something the learner must fix), else 0."""
    checks = run_checks(network=network)
    for check in checks:
        print(check)
    failed = [c for c in checks if c.status == "FAIL"]
    print("\n" + (message(MESSAGES, "{n} problem(s) to fix.", n=len(failed)) if failed
                  else message(MESSAGES, "All required checks passed.")))
    return 1 if failed else 0
