"""Kill a save at random points (SIGKILL: no cleanup runs) and check that nothing is lost.

After each kill the checkpoint on disk must load (the previous one, or the new one if the rename
already happened), and the next save must leave no temporary file behind.
"""

import os
import random
import signal
import time

import pytest
import torch

from course_utils.checkpoint import load_checkpoint, save_checkpoint

KILLS = 24


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_kills_mid_save_lose_nothing_and_leave_no_temp_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    weights = torch.randn(1 << 20)  # 4 MB: a save takes some milliseconds, kills land inside
    save_checkpoint(path, {"step": 0, "w": weights})
    rng = random.Random(0)
    kills_with_temp = 0
    for kill in range(1, KILLS + 1):
        pid = os.fork()
        if pid == 0:  # the child saves again and again until it is killed
            try:
                step = kill * 1000
                while True:
                    step += 1
                    save_checkpoint(path, {"step": step, "w": weights})
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        leftovers = [p for p in tmp_path.iterdir() if p.name != "ckpt.pt"]
        kills_with_temp += bool(leftovers)
        state = load_checkpoint(path)  # the last complete save, whichever it was
        assert state["step"] == 0 or state["step"] // 1000 <= kill
        torch.testing.assert_close(state["w"], weights, rtol=0, atol=0)
        save_checkpoint(path, {"step": 0, "w": weights})  # the next save cleans up
        assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], f"after kill {kill}"
    assert kills_with_temp >= KILLS // 4  # most kills really did land in the middle of a save
