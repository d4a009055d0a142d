"""The training loop: it learns, evaluates without side effects, and resumes exactly."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.training import evaluate, fit, train_one_epoch

HISTORY_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


def blobs(n: int = 240, seed: int = 0):
    """Three separable Gaussian blobs in 2-D: (n, 2) float inputs, (n,) int64 labels."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[targets] + 0.5 * torch.randn(n, 2, generator=g), targets


def setup(seed: int = 1, dropout: float = 0.2, with_scheduler: bool = True):
    """A model with dropout (uses the global RNG) and a shuffling loader (its own generator)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    scheduler = (torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.7)
                 if with_scheduler else None)
    x, y = blobs()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(2))
    val = DataLoader(TensorDataset(*blobs(90, seed=5)), batch_size=64)
    return model, optimizer, scheduler, loader, val


def same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def test_fit_learns_and_returns_plain_history():
    model, optimizer, scheduler, loader, val = setup()
    history = fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=5, val_loader=val,
                  scheduler=scheduler, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    for h in history:
        assert set(h) == HISTORY_KEYS
        assert all(type(v) is (int if k == "epoch" else float) for k, v in h.items())
    assert history[-1]["train_loss"] < 0.5 * torch.log(torch.tensor(3.0)).item()
    assert history[-1]["val_acc"] > 0.9
    # The scheduler is stepped once per batch: 8 batches per epoch, halved-ish every 7 steps.
    assert history[1]["lr"] == pytest.approx(0.2 * 0.7 ** (8 // 7))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2 * 0.7 ** (40 // 7))


def test_train_one_epoch_matches_a_hand_written_loop():
    model, optimizer, _, loader, _ = setup(dropout=0.0)
    reference, ref_opt, _, ref_loader, _ = setup(dropout=0.0)
    stats = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, progress=False)
    total, correct, count = 0.0, 0, 0
    for x, y in ref_loader:
        ref_opt.zero_grad()
        logits = reference(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        ref_opt.step()
        total += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    same_weights(model, reference)
    assert stats["loss"] == pytest.approx(total / count, rel=1e-6)
    assert stats["acc"] == correct / count


def test_mixed_precision_steps_are_the_hand_written_ones():
    """autocast and a GradScaler, as nanoGPT uses them: the same steps as a hand-written loop."""
    model, optimizer, _, loader, _ = setup(dropout=0.0)
    reference, ref_opt, _, ref_loader, _ = setup(dropout=0.0)
    scaler, ref_scaler = (torch.amp.GradScaler("cpu", init_scale=2.0**10) for _ in range(2))
    stats = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, progress=False,
                            autocast=torch.autocast("cpu", dtype=torch.bfloat16), scaler=scaler)
    total, count = 0.0, 0
    for x, y in ref_loader:
        ref_opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(reference(x), y)
        ref_scaler.scale(loss).backward()
        ref_scaler.step(ref_opt)
        ref_scaler.update()
        total, count = total + loss.item() * len(y), count + len(y)
    same_weights(model, reference)
    assert stats["loss"] == pytest.approx(total / count, rel=1e-6)
    assert scaler.get_scale() == ref_scaler.get_scale() == 2.0**10  # no overflow: no step skipped


def test_a_power_of_two_loss_scale_changes_no_weight():
    """The scaler multiplies the loss by 2**k and the gradients by 2**-k: exact in float32."""
    plain, plain_opt, _, loader, _ = setup(dropout=0.0)
    scaled, scaled_opt, _, scaled_loader, _ = setup(dropout=0.0)
    train_one_epoch(plain, loader, nn.CrossEntropyLoss(), plain_opt, progress=False)
    train_one_epoch(scaled, scaled_loader, nn.CrossEntropyLoss(), scaled_opt, progress=False,
                    scaler=torch.amp.GradScaler("cpu", init_scale=2.0**12))
    same_weights(plain, scaled)


def test_evaluate_is_side_effect_free_and_exact():
    model, _, _, _, val = setup(dropout=0.5)
    batches = list(val)  # a list, because iterating a DataLoader itself draws a random seed
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    first = evaluate(model, batches, nn.CrossEntropyLoss())
    second = evaluate(model, batches, nn.CrossEntropyLoss())
    assert first == second  # dropout off: deterministic
    assert model.training  # previous mode restored
    assert torch.equal(rng, torch.get_rng_state())  # no random numbers drawn (dropout is off)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    x, y = val.dataset.tensors
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert first["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert first["acc"] == (logits.argmax(1) == y).sum().item() / len(y)


def test_evaluate_builds_no_graph():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 3)

        def forward(self, x):
            seen.append((torch.is_inference_mode_enabled(), self.training))
            return self.linear(x)

    evaluate(Spy(), [(torch.randn(4, 2), torch.tensor([0, 1, 2, 0]))], nn.CrossEntropyLoss())
    assert seen == [(True, False)]


def test_accuracy_for_probability_targets_and_none_for_regression():
    x = torch.randn(6, 3)
    probs = torch.softmax(torch.randn(6, 3), dim=1)
    model = nn.Identity()
    stats = evaluate(nn.Sequential(nn.Linear(3, 3)), [(x, probs)], nn.CrossEntropyLoss())
    assert 0.0 <= stats["acc"] <= 1.0
    exact = evaluate(model, [(probs.log(), probs)], nn.CrossEntropyLoss())
    assert exact["acc"] == 1.0
    regression = evaluate(nn.Linear(3, 1), [(x, torch.randn(6, 1))], nn.MSELoss())
    assert regression["acc"] is None and regression["loss"] > 0


def test_accuracy_leaves_out_the_targets_the_loss_ignores():
    """-100 targets (nn.CrossEntropyLoss's ignore_index) count in neither the loss nor the accuracy."""
    logits = torch.eye(3)[[0, 1, 2, 0, 1, 2]] * 10  # (6, 3): always right about its own class
    targets = torch.tensor([0, 1, 2, 0, -100, -100])
    stats = evaluate(nn.Identity(), [(logits, targets)], nn.CrossEntropyLoss())
    assert stats["acc"] == 1.0  # 4 of 4 scored targets, not 4 of 6
    torch.testing.assert_close(stats["loss"], nn.functional.cross_entropy(logits, targets).item())
    every_ignored = evaluate(nn.Identity(), [(logits, torch.full((6,), -100))], nn.CrossEntropyLoss(reduction="sum"))
    assert every_ignored["acc"] is None  # nothing to score, not a division by zero
    # (B, C, T) logits for (B, T) targets, as F.cross_entropy takes them: scored per position
    seq = evaluate(nn.Identity(), [(logits.T.reshape(1, 3, 6), targets[None])], nn.CrossEntropyLoss())
    assert seq["acc"] == 1.0


def test_no_accuracy_for_logits_laid_out_otherwise_than_cross_entropy_reads_them():
    """(B, T, V) language-model logits with a loss that flattens them: argmax over dim 1 would be over
    the positions, so no accuracy is given (it used to fail on the shapes, or be wrong when T = V)."""
    logits, targets = torch.randn(2, 5, 7), torch.randint(7, (2, 5))
    def flat_loss(z, t):
        return nn.functional.cross_entropy(z.flatten(0, 1), t.flatten())
    stats = evaluate(nn.Identity(), [(logits, targets)], flat_loss)
    assert stats["acc"] is None and stats["loss"] == pytest.approx(flat_loss(logits, targets).item())


def test_progress_false_prints_nothing(capfd):
    model, optimizer, scheduler, loader, val = setup()
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=2, val_loader=val,
        scheduler=scheduler, progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_bar_shows_and_changes_nothing(capfd):
    quiet, q_opt, q_sched, q_loader, q_val = setup()
    fit(quiet, q_loader, nn.CrossEntropyLoss(), q_opt, epochs=2, val_loader=q_val,
        scheduler=q_sched, progress=False)
    model, optimizer, scheduler, loader, val = setup()
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=2, val_loader=val,
        scheduler=scheduler, progress=True)
    err = capfd.readouterr().err
    assert "epoch 2/2" in err and "16/16" in err  # one bar: 2 epochs x 8 batches
    same_weights(model, quiet)  # the bar must not consume the loader's random numbers


class Interrupt(Exception):
    pass


def interrupting_loss(after_calls: int):
    calls = {"n": 0}

    def loss_fn(logits, targets):
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise Interrupt  # like a Ctrl-C or a lost Colab runtime in the middle of an epoch
        return nn.functional.cross_entropy(logits, targets)

    return loss_fn


@pytest.mark.parametrize("with_scheduler", [True, False])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path, with_scheduler):
    epochs, path = 5, tmp_path / "run" / "ckpt.pt"
    model, optimizer, scheduler, loader, val = setup(with_scheduler=with_scheduler)
    expected = fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=epochs,
                   val_loader=val, scheduler=scheduler, progress=False)

    # Interrupted in the middle of epoch 3: each epoch calls the loss 8 (train) + 2 (val)
    # times, so the checkpoint on disk holds epoch 2.
    m1, o1, s1, l1, v1 = setup(with_scheduler=with_scheduler)
    with pytest.raises(Interrupt):
        fit(m1, l1, interrupting_loss(2 * 10 + 3), o1, epochs=epochs, val_loader=v1,
            scheduler=s1, checkpoint_path=path, progress=False)
    assert load_checkpoint(path)["epoch"] == 2

    torch.rand(1000)  # a new session: the global random state has moved on
    m2, o2, s2, l2, v2 = setup(seed=7, with_scheduler=with_scheduler)  # other initial weights
    resumed = fit(m2, l2, nn.CrossEntropyLoss(), o2, epochs=epochs, val_loader=v2,
                  scheduler=s2, checkpoint_path=path, resume=True, progress=False)
    same_weights(model, m2)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in expected]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in resumed] == strip
    assert load_checkpoint(path)["epoch"] == epochs


def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_kept(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, optimizer, scheduler, loader, _ = setup()
    first = fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=2, scheduler=scheduler,
                checkpoint_path=path, resume=True, progress=False)
    assert len(first) == 2 and first[0]["val_loss"] is None and first[0]["val_acc"] is None
    m2, o2, s2, l2, _ = setup(seed=3)
    again = fit(m2, l2, nn.CrossEntropyLoss(), o2, epochs=2, scheduler=s2, checkpoint_path=path,
                resume=True, progress=False)
    assert again == first  # nothing left to train: the stored history comes back
    same_weights(model, m2)


def test_resume_errors_are_clear(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, optimizer, scheduler, loader, _ = setup()
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=1, scheduler=scheduler,
        checkpoint_path=path, progress=False)

    other = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    with pytest.raises(CheckpointError, match=r"ckpt\.pt does not fit this model"):
        fit(other, loader, nn.CrossEntropyLoss(),
            torch.optim.SGD(other.parameters(), lr=0.1), epochs=2,
            scheduler=torch.optim.lr_scheduler.StepLR(torch.optim.SGD(other.parameters(),
                                                                      lr=0.1), 7),
            checkpoint_path=path, resume=True, progress=False)
    m2, o2, _, l2, _ = setup()
    with pytest.raises(CheckpointError, match="trained with a scheduler"):
        fit(m2, l2, nn.CrossEntropyLoss(), o2, epochs=2, checkpoint_path=path, resume=True,
            progress=False)
    unshuffled = DataLoader(l2.dataset, batch_size=32)
    m3, o3, s3, _, _ = setup()
    with pytest.raises(CheckpointError, match="build the DataLoader the same way"):
        fit(m3, unshuffled, nn.CrossEntropyLoss(), o3, epochs=2, scheduler=s3,
            checkpoint_path=path, resume=True, progress=False)
    foreign = save_checkpoint(tmp_path / "weights.pt", {"model": model.state_dict()})
    with pytest.raises(CheckpointError, match="not written by fit"):
        fit(m3, l2, nn.CrossEntropyLoss(), o3, epochs=2, scheduler=s3,
            checkpoint_path=foreign, resume=True, progress=False)
    with pytest.raises(ValueError, match="needs checkpoint_path"):
        fit(m3, l2, nn.CrossEntropyLoss(), o3, epochs=2, resume=True, progress=False)


def test_bad_inputs_are_reported():
    model, optimizer, _, loader, _ = setup()
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=2.5, progress=False)
    with pytest.raises(ValueError, match=r"pair \(inputs, targets\)"):
        train_one_epoch(model, [torch.randn(4, 2)], nn.CrossEntropyLoss(), optimizer,
                        progress=False)
    with pytest.raises(ValueError, match="must return a scalar"):
        train_one_epoch(model, loader, nn.CrossEntropyLoss(reduction="none"), optimizer,
                        progress=False)
    with pytest.raises(ValueError, match="yielded no batches"):
        evaluate(model, [], nn.CrossEntropyLoss())


def test_plot_history_draws_what_fit_returns():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.plots import plot_history

    history = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": None,
                "val_acc": None, "lr": 0.1, "seconds": 0.1},
               {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "val_loss": None,
                "val_acc": None, "lr": 0.1, "seconds": 0.1}]
    fig = plot_history(history, baseline=1.0986)
    loss_ax, acc_ax = fig.axes
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()][0] == [1.0, 0.5]
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["train loss",
                                                                       "chance (1.099)"]
    assert list(acc_ax.get_lines()[0].get_ydata()) == [0.5, 0.8]
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_history([])
    with pytest.raises(KeyError, match="no 'epoch' key"):
        plot_history([{"loss": 1.0}])


@pytest.mark.parametrize("flush_numel", [1, 1 << 22])
def test_accuracy_with_spatial_outputs_of_different_sizes(monkeypatch, flush_numel):
    from course_utils import training

    monkeypatch.setattr(training._Meter, "FLUSH_NUMEL", flush_numel)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(2, 3, h, h, generator=g), torch.randint(0, 3, (2, h, h), generator=g))
               for h in (4, 5, 4)]  # e.g. segmentation maps: logits (B, C, H, W), labels (B, H, W)
    stats = evaluate(nn.Identity(), batches, nn.CrossEntropyLoss())
    correct = sum((z.argmax(1) == t).sum().item() for z, t in batches)
    assert stats["acc"] == correct / sum(t.numel() for _, t in batches)
    probs = [(z, torch.softmax(torch.randn(z.shape, generator=g), 1)) for z, _ in batches]
    stats = evaluate(nn.Identity(), probs, nn.CrossEntropyLoss())
    correct = sum((z.argmax(1) == p.argmax(1)).sum().item() for z, p in probs)
    assert stats["acc"] == correct / sum(p[:, 0].numel() for _, p in probs)


def test_optimizer_over_another_model_is_refused():
    model, _, _, loader, _ = setup()
    stale = torch.optim.SGD(nn.Linear(2, 3).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="updates none of this model's parameters"):
        fit(model, loader, nn.CrossEntropyLoss(), stale, epochs=1, progress=False)
    with pytest.raises(ValueError, match="updates none of this model's parameters"):
        train_one_epoch(model, loader, nn.CrossEntropyLoss(), stale, progress=False)


@pytest.mark.parametrize("poison, value", [("lr", "inf"), ("inputs", "nan")])
def test_non_finite_loss_stops_with_epoch_and_step(poison, value):
    model, optimizer, _, loader, _ = setup(dropout=0.0)
    if poison == "lr":
        optimizer.param_groups[0]["lr"] = 1e30  # diverges: the loss overflows to inf/nan
        match = r"the loss became (nan|inf) at epoch 1, step \d+.*learning rate too high"
    else:
        x, y = loader.dataset.tensors
        x = x.clone()
        x[100] = float(value)  # sample 100 is in batch 4 of the unshuffled loader
        loader = DataLoader(TensorDataset(x, y), batch_size=32)
        match = r"the loss became nan at epoch 1, step 4 .*bad data"
    with pytest.raises(FloatingPointError, match=match):
        fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=2, progress=False)


def test_raw_errors_of_a_setup_become_clear():
    model, optimizer, _, loader, _ = setup()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU here.*get_device"):
            fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=1, device="cuda",
                progress=False)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(TypeError, match="ReduceLROnPlateau needs a metric"):
        fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=1, scheduler=plateau,
            progress=False)
    x, y = loader.dataset.tensors
    wrong = DataLoader(TensorDataset(x, y + 1), batch_size=32)  # labels 1..3 for 3 outputs
    with pytest.raises(ValueError, match=r"class index \[3\] but the model outputs 3 classes"):
        train_one_epoch(model, wrong, nn.CrossEntropyLoss(), optimizer, progress=False)


def test_resume_refuses_a_different_setup_naming_both_values(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, optimizer, scheduler, loader, _ = setup()
    fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs=4, scheduler=scheduler,
        checkpoint_path=path, progress=False)

    def resume(epochs=4, lr=0.2, n=240):
        m, o, _, ld, _ = setup()
        for group in o.param_groups:
            group["lr"] = lr
        s = torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.7)
        x, y = (torch.cat([t, t]) for t in ld.dataset.tensors)
        ld = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(2))
        return fit(m, ld, nn.CrossEntropyLoss(), o, epochs=epochs, scheduler=s,
                   checkpoint_path=path, resume=True, progress=False)

    with pytest.raises(CheckpointError, match="holds 4 finished epochs, but epochs=2"):
        resume(epochs=2)
    with pytest.raises(CheckpointError, match="trained with lr=0.2 .*this optimizer has lr=0.05"):
        resume(lr=0.05)
    with pytest.raises(CheckpointError, match="steps_per_epoch=8, but this train_loader has "
                                              "steps_per_epoch=4"):
        resume(n=120)
    with pytest.raises(CheckpointError, match="dataset_size=240, but .* dataset_size=250"):
        resume(n=250)  # still 8 batches of 32
    assert len(resume(epochs=4)) == 4  # the same setup still resumes
