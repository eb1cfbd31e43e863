"""``fit``: reproducibility, early stopping, divergence, stopping, penalties, validation."""

from __future__ import annotations

import json
import math
import pickle
import threading

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.data.dataset import Dataset, Split
from vizlab.train import EarlyStopping, History, decay_parameters, evaluate, fit

CLASSES = [str(i) for i in range(10)]


def digits(n_train=256, n_val=128, n_test=128, **kw) -> Dataset:
    return digits_dataset(n_train, n_val, n_test, **kw)


def mlp(seed=0, hidden=32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def cnn(seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(8 * 64, 10),
    )


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


class NaNAfter(nn.Module):
    """Logits turn NaN from the ``k``-th training forward on (calls counted from 0)."""

    def __init__(self, k):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.k, self.calls = k, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            if self.calls >= self.k:
                out = out * float("nan")
            self.calls += 1
        return out


# ---- reproducibility and the record -----------------------------------------------------
def test_same_seed_is_bit_identical_and_another_seed_is_not():
    data = digits()
    runs = []
    for seed in (0, 0, 1):
        model = cnn(seed=0)
        runs.append((fit(model, data, epochs=2, batch_size=32, seed=seed, device="cpu"), model))
    (h0, m0), (h1, m1), (h2, m2) = runs
    assert h0.loss == h1.loss and h0.val_loss == h1.val_loss
    assert all(torch.equal(a, b) for a, b in zip(m0.parameters(), m1.parameters()))
    assert h0.loss != h2.loss
    assert not all(torch.equal(a, b) for a, b in zip(m0.parameters(), m2.parameters()))


def test_history_records_every_step_and_epoch():
    data = digits(n_train=250)
    h = fit(mlp(), data, epochs=3, batch_size=64, lr=1e-2, device="cpu")
    steps_per_epoch = math.ceil(250 / 64)
    assert h.steps == list(range(1, 3 * steps_per_epoch + 1))
    assert len(h.loss) == len(h.steps) and all(math.isfinite(v) for v in h.loss)
    assert h.epochs == [1, 2, 3] and len(h.train_loss) == len(h.val_acc) == len(h.lr) == 3
    assert h.val_loss[-1] < h.val_loss[0] and h.val_acc[-1] > 0.5
    assert h.best_epoch == 1 + min(range(3), key=h.val_loss.__getitem__)
    assert not h.stopped_early and not h.stopped and not h.diverged and h.stop_epoch == 3
    assert h.test_loss is not None and 0.0 <= h.test_acc <= 1.0
    assert h.seconds > 0 and h.images_per_s > 0 and h.device == "cpu"
    assert h.config["lr"] == 1e-2 and h.config["optimizer"] == "adam"
    json.dumps(h.as_dict(), allow_nan=False)
    rows = h.epoch_rows()
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[1]["val_loss"] == h.val_loss[1]


def test_val_metrics_are_a_real_evaluation_in_eval_mode():
    data = digits()
    model = cnn()
    h = fit(model, data, epochs=1, batch_size=32, device="cpu")
    loss, acc = evaluate(model, data.val)
    assert (loss, acc) == (h.val_loss[-1], h.val_acc[-1])
    assert not model.training


def test_log_every_changes_when_losses_are_copied_not_their_values():
    data = digits()
    h1 = fit(mlp(), data, epochs=2, batch_size=32, device="cpu", log_every=1)
    h7 = fit(mlp(), data, epochs=2, batch_size=32, device="cpu", log_every=7)
    assert h1.loss == h7.loss and h1.steps == h7.steps


def test_empty_test_split_leaves_test_metrics_empty():
    data = digits(n_test=0)
    h = fit(mlp(), data, epochs=1, device="cpu")
    assert h.test_loss is None and h.test_acc is None


# ---- early stopping ---------------------------------------------------------------------
def test_early_stopping_stops_patience_epochs_after_best_and_restores_it():
    # Random labels: the net memorises the training set and the validation loss rises.
    data = digits(n_train=256, n_val=256, random_labels=True)
    model = mlp(hidden=256)
    patience = 3
    h = fit(model, data, epochs=40, batch_size=32, lr=1e-2, early_stopping=patience, device="cpu")
    assert h.stopped_early
    assert h.stop_epoch == h.best_epoch + patience == h.epochs[-1] < 40
    assert h.best_epoch == 1 + min(range(len(h.val_loss)), key=h.val_loss.__getitem__)
    assert h.restored_epoch == h.best_epoch
    loss, _ = evaluate(model, data.val)
    assert loss == pytest.approx(h.val_loss[h.best_epoch - 1], rel=1e-6)
    assert loss < h.val_loss[-1]
    assert h.final()["val_loss"] == h.val_loss[h.best_epoch - 1]


def test_early_stopping_min_delta_and_no_restore():
    data = digits(n_train=256, n_val=256, random_labels=True)
    model = mlp(hidden=256)
    stopper = EarlyStopping(patience=2, min_delta=10.0, restore_best=False)
    h = fit(model, data, epochs=20, batch_size=32, lr=1e-2, early_stopping=stopper, device="cpu")
    # Nothing improves by 10 nats, so epoch 1 stays best and the run ends at epoch 3.
    assert h.best_epoch == 1 and h.stop_epoch == 3 and h.stopped_early
    assert h.restored_epoch is None
    assert evaluate(model, data.val)[0] == pytest.approx(h.val_loss[-1], rel=1e-6)


def test_no_early_stopping_runs_all_epochs():
    h = fit(mlp(), digits(random_labels=True), epochs=4, lr=1e-2, device="cpu")
    assert not h.stopped_early and h.epochs == [1, 2, 3, 4] and h.restored_epoch is None


# ---- divergence and stopping --------------------------------------------------------------
@pytest.mark.parametrize("log_every", [1, 4])
def test_nan_loss_marks_divergence_and_keeps_earlier_steps(log_every):
    model = NaNAfter(k=5)
    h = fit(model, digits(), epochs=3, batch_size=32, device="cpu", log_every=log_every)
    assert h.diverged and h.diverged_step == 6
    assert h.steps == [1, 2, 3, 4, 5] and all(math.isfinite(v) for v in h.loss)
    assert h.epochs == [] and h.test_loss is None
    if log_every == 1:  # checked before the update: the weights never saw a NaN
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_huge_learning_rate_diverges_without_raising():
    h = fit(mlp(), digits(), epochs=5, optimizer="sgd", lr=1e30, device="cpu")
    assert h.diverged and h.diverged_step > 1
    assert len(h.loss) == h.diverged_step - 1 and all(math.isfinite(v) for v in h.loss)


def test_stop_event_returns_within_one_step():
    stop = threading.Event()

    class StopAt:
        def on_step(self, state):
            if state.step == 3:
                stop.set()

    h = fit(mlp(), digits(), epochs=5, batch_size=16, stop=stop, callbacks=[StopAt()])
    assert h.stopped and h.steps == [1, 2, 3] and h.epochs == []
    assert h.test_loss is None and not h.stopped_early


# ---- optimizers and penalties -------------------------------------------------------------
def _fit_sgd(data, **kw):
    model = mlp()
    fit(model, data, epochs=2, batch_size=64, optimizer="sgd", momentum=0.0, lr=0.1, **kw)
    return model


def test_sgd_l2_penalty_equals_decoupled_decay_of_twice_the_coefficient():
    # d/dw c*||w||^2 = 2cw, and SGD's step lr*2cw is what decay 2c does: w *= 1 - lr*2c.
    data, c = digits(), 0.05
    with_l2 = weights(_fit_sgd(data, l2=c))
    with_wd = weights(_fit_sgd(data, weight_decay=2 * c))
    plain = weights(_fit_sgd(data))
    for a, b in zip(with_l2, with_wd):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(with_l2[0], plain[0], atol=1e-4)


def test_adam_weight_decay_is_not_an_l2_penalty():
    data, c = digits(), 0.05
    models = {}
    for name, kw in (("wd", {"weight_decay": c}), ("l2", {"l2": c})):
        models[name] = mlp()
        fit(models[name], data, epochs=2, batch_size=64, lr=1e-2, device="cpu", **kw)
    w_wd, w_l2 = models["wd"][1].weight, models["l2"][1].weight
    assert not torch.allclose(w_wd, w_l2, atol=1e-3)


def test_adam_weight_decay_matches_torch_adamw_on_weights_only():
    data = digits()
    ours, ref = mlp(), mlp()
    fit(ours, data, epochs=1, batch_size=64, lr=1e-2, weight_decay=0.1, device="cpu")
    torch.manual_seed(0)
    params = [ref[1].weight, ref[3].weight]
    others = [ref[1].bias, ref[3].bias]
    opt = torch.optim.AdamW(
        [{"params": params, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
        lr=1e-2,
    )
    gen = torch.Generator().manual_seed(0)
    for x, y in data.train.batches(64, shuffle=True, generator=gen):
        opt.zero_grad()
        nn.functional.cross_entropy(ref(x), y).backward()
        opt.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_l1_and_l2_gradients_follow_their_formulas():
    # One full-batch SGD step: the penalty adds exactly -lr*l1*sign(w) or -lr*2*l2*w to
    # every conv/linear weight and nothing to the biases.
    data, lr, c = digits(), 0.1, 0.01
    w0 = weights(mlp())

    def one_step(**kw):
        model = mlp()
        fit(model, data, epochs=1, batch_size=256, optimizer="sgd", momentum=0.0, lr=lr, **kw)
        return weights(model)

    plain, l1, l2 = one_step(), one_step(l1=c), one_step(l2=c)
    for i, (w, p, a, b) in enumerate(zip(w0, plain, l1, l2)):
        is_weight = i in (0, 2)
        torch.testing.assert_close(a - p, -lr * c * torch.sign(w) * is_weight, atol=1e-6, rtol=0)
        torch.testing.assert_close(b - p, -lr * 2 * c * w * is_weight, atol=1e-6, rtol=0)


def test_decay_applies_to_conv_and_linear_weights_only():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.Flatten(),
        nn.LayerNorm(4 * 36), nn.Linear(4 * 36, 10),
    )  # fmt: skip
    decayed, others = decay_parameters(model)
    assert {id(p) for p in decayed} == {id(model[0].weight), id(model[5].weight)}
    assert len(others) == len(list(model.parameters())) - 2


def test_callable_optimizer_and_adamw_name():
    data = digits()
    h = fit(mlp(), data, epochs=2, batch_size=32, optimizer=lambda ps: torch.optim.SGD(ps, lr=0.5))
    assert h.val_acc[-1] > 0.5 and h.config["optimizer"] == "<lambda>"
    h = fit(mlp(), data, epochs=2, batch_size=32, lr=1e-2, optimizer="adamw", weight_decay=0.01)
    assert h.val_acc[-1] > 0.5 and h.config["weight_decay"] == 0.01


# ---- augmentation and soft labels ---------------------------------------------------------
class OneHot(nn.Module):
    """Turns labels into one-hot class probabilities, as MixUp with lam=1 would."""

    mixes_labels = True

    def __init__(self):
        super().__init__()
        self.calls, self.modes = 0, []

    def forward(self, x, y):
        self.calls += 1
        self.modes.append(self.training)
        return x, nn.functional.one_hot(y, 10).float()  # (B, K) rows sum to 1


def test_soft_labels_train_exactly_like_the_class_indices():
    data = digits()
    hard = fit(mlp(), data, epochs=2, batch_size=64, device="cpu")
    aug = OneHot().eval()
    soft = fit(mlp(), data, epochs=2, batch_size=64, device="cpu", augment=aug)
    assert soft.loss == pytest.approx(hard.loss, rel=1e-5)
    assert soft.train_acc == pytest.approx(hard.train_acc)
    assert aug.calls == len(hard.steps) and all(aug.modes)  # training batches only


def test_plain_augment_is_called_with_images_only():
    seen = []

    def flip(x):
        seen.append(tuple(x.shape))
        return x.flip(-1)

    fit(mlp(), digits(n_train=100), epochs=1, batch_size=64, augment=flip, device="cpu")
    assert seen == [(64, 1, 8, 8), (36, 1, 8, 8)]


# ---- callbacks and watch ------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.calls = []

    def on_fit_start(self, state):
        self.calls.append(("start", state.step, state.epoch))

    def on_step(self, state):
        assert isinstance(state.loss, torch.Tensor) and state.history is not None
        self.calls.append(("step", state.step, state.epoch))

    def on_epoch_end(self, state):
        self.calls.append(("epoch", state.step, len(state.history.epochs)))

    def on_fit_end(self, state):
        self.calls.append(("end", state.step, state.total_steps))


def test_callbacks_see_every_step_and_epoch_in_order():
    rec = Recorder()
    fit(mlp(), digits(n_train=100), epochs=2, batch_size=50, callbacks=[rec], device="cpu")
    assert rec.calls == [
        ("start", 0, 0), ("step", 1, 1), ("step", 2, 1), ("epoch", 2, 1),
        ("step", 3, 2), ("step", 4, 2), ("epoch", 4, 2), ("end", 4, 4),
    ]  # fmt: skip


def test_progress_is_reported_to_the_model_each_step(monkeypatch):
    import vizlab.train.loop as fit_module

    seen = []
    monkeypatch.setattr(fit_module, "set_progress", lambda model, p: seen.append(p))
    fit(mlp(), digits(n_train=100), epochs=2, batch_size=50, device="cpu")
    assert seen == [0.0, 0.25, 0.5, 0.75]


class FakeWatch:
    def __init__(self, attached=False):
        self.attached, self.events = attached, []

    def attach(self):
        self.attached = True
        self.events.append("attach")

    def close(self):
        self.attached = False
        self.events.append("close")

    def on_epoch_end(self, state):
        self.events.append("epoch")


def test_watch_is_attached_called_and_closed():
    w = FakeWatch()
    fit(mlp(), digits(), epochs=2, watch=w, device="cpu")
    assert w.events == ["attach", "epoch", "epoch", "close"] and not w.attached
    already = FakeWatch(attached=True)
    fit(mlp(), digits(), epochs=1, watch=already, device="cpu")
    assert already.events == ["epoch"] and already.attached  # its owner closes it


def test_watch_is_closed_after_an_exception():
    class Boom:
        def on_step(self, state):
            raise RuntimeError("callback failed")

    w = FakeWatch()
    with pytest.raises(RuntimeError, match="callback failed"):
        fit(mlp(), digits(), epochs=1, watch=w, callbacks=[Boom()], device="cpu")
    assert w.events == ["attach", "close"]


# ---- input validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be at least 1"),
        ({"epochs": 2.5}, TypeError, "epochs must be an int"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"lr": 0}, ValueError, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0"),
        ({"l2": -0.1}, ValueError, "l2 must be a finite number >= 0"),
        ({"l1": float("inf")}, ValueError, "l1 must be a finite number >= 0"),
        ({"weight_decay": -1}, ValueError, "weight_decay must be"),
        ({"momentum": 1.0}, ValueError, "momentum must be below 1"),
        ({"optimizer": "rmsprop"}, ValueError, "use one of adam, adamw, sgd"),
        ({"optimizer": 3}, TypeError, "optimizer must be a name or a callable"),
        (
            {"optimizer": lambda ps: torch.optim.SGD(ps, lr=0.1), "weight_decay": 0.1},
            ValueError,
            "set the decay inside the callable",
        ),
        ({"early_stopping": 0}, ValueError, "patience must be at least 1"),
        ({"early_stopping": "yes"}, TypeError, "early_stopping must be None"),
        ({"augment": 3}, TypeError, "augment must be"),
        ({"stop": True}, TypeError, "stop must be a threading.Event"),
        ({"device": "gpu0"}, ValueError, "unknown device"),
    ],
)
def test_bad_arguments_fail_before_training(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit(mlp(), digits(), **kwargs)


def test_bad_data_and_models_fail_with_a_fix():
    data = digits()
    with pytest.raises(TypeError, match="data must be a vizlab Dataset"):
        fit(mlp(), [1, 2, 3])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(lambda x: x, data)
    wrong_k = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(ValueError, match=r"logits of shape \(B, 10\).*returned \(2, 5\)"):
        fit(wrong_k, data)
    wrong_in = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 10))
    with pytest.raises(ValueError, match="failed on a batch of shape"):
        fit(wrong_in, data)
    frozen = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(frozen, data)


def test_bad_splits_fail_with_a_fix():
    data = digits()
    empty = Dataset("d", CLASSES, data.train.subset(0), data.val, data.test)
    with pytest.raises(ValueError, match="training split of 'd' is empty"):
        fit(mlp(), empty)
    x = data.train.x.clone()
    x[3, 0, 2, 2] = float("nan")
    nans = Dataset("d", CLASSES, Split(x, data.train.y), data.val, data.test)
    with pytest.raises(ValueError, match="train images of 'd' contain NaN"):
        fit(mlp(), nans)
    y = data.val.y.clone()
    y[0] = 12
    bad_y = Dataset("d", CLASSES, data.train, Split(data.val.x, y), data.test)
    with pytest.raises(ValueError, match=r"val labels range over \[0, 12\]"):
        fit(mlp(), bad_y)
    float_y = Dataset("d", CLASSES, Split(data.train.x, data.train.y.float()), data.val, data.test)
    with pytest.raises(TypeError, match="labels must be a 1-D integer tensor"):
        fit(mlp(), float_y)
    no_val = Dataset("d", CLASSES, data.train, data.val.subset(0), data.test)
    with pytest.raises(ValueError, match="no validation split"):
        fit(mlp(), no_val, early_stopping=3)
    h = fit(mlp(), no_val, epochs=1)  # without early stopping it trains; val is NaN
    assert math.isnan(h.val_loss[0]) and h.best_epoch is None
    json.dumps(h.as_dict(), allow_nan=False)


def test_history_is_readable_while_written():
    h = History()
    h.add_steps([1, 2], [0.5, 0.4])
    snap = h.snapshot()
    h.add_steps([3], [0.3])
    assert snap["loss"] == [0.5, 0.4] and h.loss == [0.5, 0.4, 0.3]
    copy = pickle.loads(pickle.dumps(h))
    assert copy == h and copy._lock is not h._lock
