"""The answer key of the course's exercises: answer, tolerance, hint and solution per exercise id.

An exercise id is ``"NN.k"``: notebook ``NN``, exercise ``k``. The entries are stored below as
base64-encoded JSON **only so that a learner who opens this file does not read the answers at
a glance**; it is not a secret and not a protection. ``Exercise(question, key="02.1")`` reads
its entry here.

Maintainers: ``entries = load()``, change the dict, then ``rewrite(entries)`` (rewrites this
file in place); ``tests/test_exercises.py`` checks every entry.
Each entry: ``answer`` (a number, a text, or a list of accepted texts), optional ``rel_tol``
(for numbers), ``hint`` and ``solution`` (course HTML).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import textwrap
from functools import lru_cache
from pathlib import Path

_ENCODED = """
ewoiMDAuMSI6IHsKImFuc3dlciI6IDIsCiJoaW50IjogIlJlYWQgdGhlIGNvbW1lbnQgb2YgY2VsbCAyLCBvciBydW4gPGNv
ZGU+dG9yY2guZ2V0X251bV90aHJlYWRzKCk8L2NvZGU+IGluIGEgbmV3IGNlbGwuIiwKInNvbHV0aW9uIjogIjI6IDxjb2Rl
PnBpbl90aHJlYWRzKCk8L2NvZGU+IHNldHMgPGNvZGU+dG9yY2guc2V0X251bV90aHJlYWRzKDIpPC9jb2RlPiB3aGF0ZXZl
ciB0aGUgbWFjaGluZSwgc28gdGhlIHN0b3JlZCBudW1iZXJzIGNhbiBiZSByZXByb2R1Y2VkLiIKfSwKIjAwLjIiOiB7CiJh
bnN3ZXIiOiBbCiJweXRob24gLW0gY291cnNlX3V0aWxzIGRvY3RvciIsCiJtYWtlIGRvY3RvciIKXSwKImhpbnQiOiAiU2Vj
dGlvbiAyOiBpdCBwcmludHMgPGNvZGU+W09LXTwvY29kZT4sIDxjb2RlPltXQVJOXTwvY29kZT4gb3IgPGNvZGU+W0ZBSUxd
PC9jb2RlPiBwZXIgcmVxdWlyZW1lbnQuIiwKInNvbHV0aW9uIjogIjxjb2RlPnB5dGhvbiAtbSBjb3Vyc2VfdXRpbHMgZG9j
dG9yPC9jb2RlPiAob3IgPGNvZGU+bWFrZSBkb2N0b3I8L2NvZGU+KTsgcGFzdGUgaXRzIG91dHB1dCBpbnRvIGFueSBidWcg
cmVwb3J0LiIKfSwKIjAwLjMiOiB7CiJhbnN3ZXIiOiA0LAoiaGludCI6ICJTZWN0aW9uIDQgc2F5cyB3aGVyZSAxIGFuZCAy
IHRocmVhZHMgcGFydCB3YXlzIGFmdGVyIGEgZmV3IGRvemVuIHN0ZXBzLiIsCiJzb2x1dGlvbiI6ICJUaGUgNHRoIGRlY2lt
YWw6IGZsb2F0IHN1bXMgaW4gYSBkaWZmZXJlbnQgb3JkZXIgZGlmZmVyIGluIHRoZSBsYXN0IGJpdHMsIGFuZCB0cmFpbmlu
ZyBhbXBsaWZpZXMgdGhlbS4gVGhhdCBpcyB3aHkgdGhlIG5vdGVib29rcyBwcmludCAyIHRvIDQgZGVjaW1hbHMgYW5kIGFz
c2VydCB0cmFpbmluZyBudW1iZXJzIHdpdGggdG9sZXJhbmNlcy4iCn0sCiIwMS4xIjogewoiYW5zd2VyIjogNzM3MjgsCiJo
aW50IjogIkNfb3V0IMK3IENfaW4gwrcgayDCtyBrLCBhbmQgbm8gYmlhcy4iLAoic29sdXRpb24iOiAiMTI4IMK3IDY0IMK3
IDMgwrcgMyA9IDczLDcyOC4iCn0sCiIwMS4yIjogewoiYW5zd2VyIjogMzQzMDQsCiJoaW50IjogIkRlcHRod2lzZTogZWFj
aCBvZiB0aGUgMTI4IGZpbHRlcnMgc2VlcyAxIGNoYW5uZWwuIFBvaW50d2lzZTogYSAxw5cxIGNvbnYuIiwKInNvbHV0aW9u
IjogIigxMjggwrcgMSDCtyAzIMK3IDMgKyAxMjgpICsgKDI1NiDCtyAxMjggwrcgMSDCtyAxICsgMjU2KSA9IDEsMjgwICsg
MzMsMDI0ID0gMzQsMzA0LiIKfSwKIjAxLjMiOiB7CiJhbnN3ZXIiOiAyNTA4OCwKImhpbnQiOiAiNCBnYXRlczogNEjCtyhu
X2luICsgSCkgd2VpZ2h0cywgcGx1cyAyIMK3IDRIIGJpYXNlcy4iLAoic29sdXRpb24iOiAiNCDCtyA2NCDCtyAoMzIgKyA2
NCkgKyAyIMK3IDQgwrcgNjQgPSAyNCw1NzYgKyA1MTIgPSAyNSwwODguIgp9LAoiMDEuNCI6IHsKImFuc3dlciI6IDM0LAoi
aGludCI6ICIxIHN0ZW0gY29udiArIDIgY29udnMgcGVyIGJsb2NrICsgMSBmdWxseSBjb25uZWN0ZWQgbGF5ZXI7IHNob3J0
Y3V0cyBhcmUgcGFyYWxsZWwuIiwKInNvbHV0aW9uIjogIjEgKyAoMyArIDQgKyA2ICsgMykgwrcgMiArIDEgPSAzNC4gQ2hl
Y2s6IDxjb2RlPmRlcHRoKHJlc25ldDM0KCksIHRvcmNoLnplcm9zKDEsIDMsIDMyLCAzMikpPC9jb2RlPi4iCn0sCiIwMS41
IjogewoiYW5zd2VyIjogMzAxOTg5ODg4LAoiaGludCI6ICIxMiDCtyAyNCDCtyAxMDI0wrIuIiwKInNvbHV0aW9uIjogIjEy
IMK3IDI0IMK3IDEwMjQgwrcgMTAyNCA9IDMwMSw5ODksODg4OyB0aGUgZXhhY3QgbW9kZWwgaGFzIDM1NCw4MjMsMTY4IHdp
dGggaXRzIGVtYmVkZGluZ3MuIgp9LAoiMDIuMSI6IHsKImFuc3dlciI6IDYuOTA3NzU1LAoiaGludCI6ICJBdCBjaGFuY2Ug
dGhlIGxvc3MgaXMgbG4gQy4iLAoicmVsX3RvbCI6IDAuMDAxLAoic29sdXRpb24iOiAibG4gMTAwMCA9IDYuOTA4LiIKfSwK
IjAyLjIiOiB7CiJhbnN3ZXIiOiAxLjM4NjI5NCwKImhpbnQiOiAiRm9yIGEgb25lLWhvdCB0YXJnZXQgdGhlIGxvc3MgaXMg
LWxuIHAodHJ1ZSBjbGFzcykuIiwKInJlbF90b2wiOiAwLjAwMSwKInNvbHV0aW9uIjogIi1sbiAwLjI1ID0gbG4gNCA9IDEu
Mzg2LiIKfSwKIjAyLjMiOiB7CiJhbnN3ZXIiOiAtMC4zLAoiaGludCI6ICJUaGUgZ3JhZGllbnQgaXMgc29mdG1heCh6KSAt
IHk7IHkgaXMgMSBmb3IgdGhlIHRydWUgY2xhc3MuIiwKInNvbHV0aW9uIjogIjAuNyAtIDEgPSAtMC4zOiBpbmNyZWFzaW5n
IHRoYXQgbG9naXQgbG93ZXJzIHRoZSBsb3NzLiIKfSwKIjAyLjQiOiB7CiJhbnN3ZXIiOiAwLjkxLAoiaGludCI6ICJUaGUg
c21vb3RoZWQgdGFyZ2V0IGlzICgxIC0gzrUpwrd5ICsgzrUvQy4iLAoic29sdXRpb24iOiAiMC45IMK3IDEgKyAwLjEgLyAx
MCA9IDAuOTEgKGFuZCAwLjAxIGZvciBlYWNoIG90aGVyIGNsYXNzKS4iCn0sCiIwMi41IjogewoiYW5zd2VyIjogMC40MDc2
MDYsCiJoaW50IjogIlNoaWZ0IGJ5IHRoZSBtYXhpbXVtOiB0aGUgbG9naXRzIGJlY29tZSBbLTIsIC0xLCAwXS4iLAoicmVs
X3RvbCI6IDAuMDAwMSwKInNvbHV0aW9uIjogIjAgKyBsb2coZV4tMiArIGVeLTEgKyBlXjApID0gbG9nKDEuNTAzMikgPSAw
LjQwNzYgKD0gMi40MDc2MDYgLSAyKS4iCn0sCiIwMi42IjogewoiYW5zd2VyIjogMC42OTMxNDcsCiJoaW50IjogIs+DKDAp
ID0gMC41LCBhbmQgdGhlIGxvc3Mgb2YgdGhlIHRydWUgbGFiZWwgaXMgLWxuIHAuIiwKInJlbF90b2wiOiAwLjAwMSwKInNv
bHV0aW9uIjogIs+DKDApID0gMS8yLCBzbyB0aGUgbG9zcyBpcyAtbG4gMC41ID0gbG4gMiA9IDAuNjkzOiBjaGFuY2UgbGV2
ZWwgZm9yIDIgY2xhc3Nlcy4iCn0sCiIwMy4xIjogewoiYW5zd2VyIjogMS42LAoiaGludCI6ICLOuCDihpAgzrgg4oiSIM63
wrdnLiIsCiJzb2x1dGlvbiI6ICIyLjAg4oiSIDAuMSDCtyA0LjAgPSAxLjYuIgp9LAoiMDMuMiI6IHsKImFuc3dlciI6IDEw
LjAsCiJoaW50IjogIkF0IHRoZSBmaXhlZCBwb2ludCBiID0gzrzCt2IgKyBnLiIsCiJzb2x1dGlvbiI6ICJiID0gZyAvICgx
IOKIkiDOvCkgPSAxIC8gMC4xID0gMTA6IHN0ZXBzIHRlbiB0aW1lcyBsYXJnZXIuIgp9LAoiMDMuMyI6IHsKImFuc3dlciI6
IDAuMiwKImhpbnQiOiAiT25lIHN0ZXAgbXVsdGlwbGllcyB3IGJ5ICgxIOKIkiAxMMK3zrcpOyBpdCBtdXN0IHN0YXkgd2l0
aGluIFviiJIxLCAxXS4iLAoic29sdXRpb24iOiAifDEg4oiSIDEwzrd8IOKJpCAxIOKHlCDOtyDiiaQgMi8xMCA9IDAuMiAo
YXQgZXhhY3RseSAwLjIsIHcgZmxpcHMgc2lnbiBmb3JldmVyKS4iCn0sCiIwMy40IjogewoiYW5zd2VyIjogMywKImhpbnQi
OiAiYmFja3dhcmQoKSBhZGRzIGludG8gLmdyYWQuIiwKInNvbHV0aW9uIjogIjM6IGVhY2ggYmFja3dhcmQgYWRkcyB0aGUg
c2FtZSBncmFkaWVudCBvbmNlIG1vcmUuIgp9LAoiMDMuNSI6IHsKImFuc3dlciI6IDAuOTk5LAoiaGludCI6ICJXZWlnaHQg
ZGVjYXkgYWRkcyDOu8K3zrggdG8gdGhlIGdyYWRpZW50LiIsCiJzb2x1dGlvbiI6ICIxLjAg4oiSIDAuMSDCtyAoMCArIDAu
MDEgwrcgMS4wKSA9IDAuOTk5LiIKfSwKIjAzLjYiOiB7CiJhbnN3ZXIiOiAwLjAwMSwKImhpbnQiOiAiQXQgc3RlcCAxIHRo
ZSBiaWFzLWNvcnJlY3RlZCBtzIIgaXMgZyBhbmQgdsyCIGlzIGfCsiwgc28gbcyCL+KImnbMgiBpcyDCsTEuIiwKInJlbF90
b2wiOiAwLjAwMSwKInNvbHV0aW9uIjogInzOlM64fCA9IM63IMK3IHxnfCAvICjiiJooZ8KyKSArIM61KSDiiYggzrcgPSAw
LjAwMSwgd2hhdGV2ZXIgdGhlIHNjYWxlIG9mIGc6IEFkYW0ncyBmaXJzdCBzdGVwcyBoYXZlIHRoZSBzaXplIG9mIHRoZSBs
ZWFybmluZyByYXRlLiIKfSwKIjA3LjEiOiB7CiJhbnN3ZXIiOiAxNjk3MjgsCiJoaW50IjogIlRoZSB0aWVkIGhlYWQgY29z
dHMgbm90aGluZzsgYW4gdW50aWVkIG9uZSBpcyBhIChWLCBkKSBtYXRyaXgsIHdpdGhvdXQgYmlhcy4iLAoic29sdXRpb24i
OiAiMTM2LDk2MCArIDUxMiDDlyA2NCA9IDE2OSw3Mjg6IGFuIHVudGllZCBoZWFkIGFsb25lIHdvdWxkIGFkZCAyNCUgdG8g
dGhlIG1vZGVsLiIKfSwKIjA3LjIiOiB7CiJhbnN3ZXIiOiA1NC42LAoiaGludCI6ICJQZXJwbGV4aXR5IGlzIGUgdG8gdGhl
IHBvd2VyIG9mIHRoZSBsb3NzIChpbiBuYXRzKS4iLAoicmVsX3RvbCI6IDAuMDAxLAoic29sdXRpb24iOiAiZTxzdXA+NDwv
c3VwPiDiiYggNTQuNjA6IGFzIHVuc3VyZSBhcyBhIHVuaWZvcm0gcGljayBhbW9uZyB+NTUgdG9rZW5zLCBub3QgNTEyLiIK
fSwKIjA3LjMiOiB7CiJhbnN3ZXIiOiA0MDk2LAoiaGludCI6ICJQZXIgbGF5ZXIgQSBpcyByIMOXIGluIGFuZCBCIGlzIG91
dCDDlyByOiByIMOXIChpbiArIG91dCkuIiwKInNvbHV0aW9uIjogIjIgbGF5ZXJzIMOXIDggw5cgKDY0ICsgMTkyKSA9IDQs
MDk2OiB0d2ljZSB0aGUgMiwwNDggdGhhdCA8Y29kZT5wZWZ0PC9jb2RlPiBwcmludGVkIGZvciByID0gNC4iCn0KfQ==
"""


@lru_cache(maxsize=1)
def _decoded() -> str:
    return base64.b64decode("".join(_ENCODED.split())).decode("utf-8")


def load() -> dict[str, dict]:
    """Every entry, keyed by exercise id (a fresh copy: changing it changes nothing here)."""
    return json.loads(_decoded())


def keys() -> list[str]:
    return sorted(load())


def entry(key: str) -> dict:
    """The entry of one exercise; a clear KeyError naming the known ids of that notebook."""
    entries = load()
    if key not in entries:
        same = [k for k in sorted(entries) if k.split(".")[0] == str(key).split(".")[0]]
        raise KeyError(f"no exercise {key!r} in course_utils.answer_key (this notebook's ids: "
                       f"{same or 'none'}); add it with answer_key.rewrite(...)")
    return entries[key]


def encode(entries: dict[str, dict]) -> str:
    """The text stored in ``_ENCODED`` for ``entries`` (sorted, 96-character lines)."""
    raw = json.dumps(entries, ensure_ascii=False, sort_keys=True, indent=0).encode("utf-8")
    return "\n".join(textwrap.wrap(base64.b64encode(raw).decode("ascii"), 96))


def rewrite(entries: dict[str, dict], path: str | os.PathLike | None = None) -> Path:
    """Store ``entries`` in this module's source file (atomically: a temp file, then rename)."""
    for key, value in entries.items():
        if not isinstance(value, dict) or "answer" not in value:
            raise ValueError(f"entry {key!r} must be a dict with an 'answer', got {value!r}")
    path = Path(path or __file__)
    encoded = encode(entries)
    source = path.read_text(encoding="utf-8")
    head, rest = source.split('_ENCODED = """', 1)
    tail = rest.split('"""', 1)[1]
    text = f'{head}_ENCODED = """\n{encoded}\n"""{tail}'
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if path.resolve() == Path(__file__).resolve():  # this very module: serve the new key now
        globals()["_ENCODED"] = encoded
        _decoded.cache_clear()
    return path
