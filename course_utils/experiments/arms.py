"""The arms of the transfer grid: one small frozen dataclass each, in one table.

    arm = ARMS["probe-layer3-long"]        # Arm(name=..., model="linear", features="layer3", ...)
    arm.steps, arm.rule                    # (384, "long budget")
    model, key = build_arm(arm, source_model, num_classes=10, seed=0)   # key: its input in prepare_target

An arm says what is trained (``model``), on which input (``features``), over which learning rates
(``lrs``) and under which budget rule (``rule``). Its ``name`` is its key in the committed grid
CSVs; "-long" and "-aug" arms are their short arm under another rule (:meth:`Arm.under`), so they
are built and swept alike and differ only in steps and augmentation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
from torch import nn
from torchvision.models import resnet50

from course_utils.augment import RandomAffine
from course_utils.experiments.features import NATIVE_PIXELS, STAGES, STEM, Pixels, Standardize

__all__ = ["STEPS", "LONG_STEPS", "Arm", "ARMS", "TRANSFER_ARMS", "BASELINE_ARMS", "get_arm", "rule",
           "lr_candidates", "build_arm"]

STEPS = 24              # optimizer steps per arm, for every arm: the one budget rule
#: "-long" arms: every arm but the stage probes again with 16x the budget, so that transfer is
#: also compared with baselines trained to convergence at an equal budget (long against long).
#: "-aug" arms: the long budget on augmented images (:class:`~course_utils.augment.RandomAffine`),
#: for every arm that can see a new view of its images each step (not the cached-feature ones)
LONG_STEPS = 16 * STEPS
#: budget rule -> (the suffix of its arms' names, their optimizer steps); only arms of one rule are compared
RULES = {"short budget": ("", STEPS), "long budget": ("-long", LONG_STEPS), "augmented": ("-aug", LONG_STEPS)}

#: the learning rates each arm is swept over (AdamW; a validation split picks one)
LRS = {"deep": (1e-4, 3e-4, 1e-3), "conv": (3e-4, 1e-3, 3e-3, 1e-2),
       "cnn": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "shallow": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
       "wide": (1e-4, 3e-4, 1e-3, 3e-3)}

FLAT = ("pixels", *STAGES)  # (N, F) inputs: pooled pixels or a pooled stage output
#: model -> the inputs it can read (keys of :func:`~course_utils.experiments.features.prepare_target`)
MODELS = {"linear": FLAT, "mlp": FLAT, "small-cnn": ("images",), "resnet50": ("images",),
          "last-stage": ("layer3_maps",), "cut-layer3": ("images",), "full": ("images",)}


@dataclass(frozen=True)
class Arm:
    """One arm of the grid. ``standardize``: its flat input is standardized with the statistics of
    its training rows; ``transfer``: it starts from the source model (else: a baseline)."""

    name: str                  # its key in the grid CSVs, e.g. "probe-layer3-long"
    model: str                 # what build_arm makes: a key of MODELS
    features: str              # what the model reads: "pixels", "images", "layer1".."layer4", "layer3_maps"
    lrs: str                   # its learning-rate candidates: a key of LRS
    standardize: bool = False
    transfer: bool = True
    rule: str = "short budget"  # a key of RULES

    def __post_init__(self):
        for field, value, allowed in (("model", self.model, MODELS), ("lrs", self.lrs, LRS),
                                      ("rule", self.rule, RULES)):
            if value not in allowed:
                raise ValueError(f"{self.name}: unknown {field} {value!r}; choose from {', '.join(allowed)}")
        if self.features not in MODELS[self.model]:
            raise ValueError(f"{self.name}: a {self.model} model reads {MODELS[self.model]}, not {self.features!r}")
        if self.standardize and self.features not in FLAT:
            raise ValueError(f"{self.name}: only flat features {FLAT} are standardized, not {self.features!r}")
        if self.augment and self.features not in ("pixels", "images"):
            raise ValueError(f"{self.name}: only an arm that trains on images can be augmented, "
                             f"not on {self.features!r}")

    @property
    def steps(self) -> int:
        return RULES[self.rule][1]

    @property
    def augment(self) -> bool:
        """It trains on a new :class:`~course_utils.augment.RandomAffine` view of its images each step."""
        return self.rule == "augmented"

    def under(self, rule: str) -> Arm:
        """This short arm under another budget ``rule``, named with the rule's suffix."""
        if self.rule != "short budget":
            raise ValueError(f"{self.name} is already under the {self.rule} rule")
        return replace(self, name=self.name + RULES[rule][0], rule=rule)


_TRANSFER = {a.name: a for a in (
    Arm("probe-fc", "linear", "layer4", "shallow"),  # the classic linear probe: fc on the raw pooled features
    *(Arm(f"probe-{s}", "linear", s, "shallow", standardize=True) for s in STAGES),  # a standardized stage
    Arm("last-stage", "last-stage", "layer3_maps", "deep"),  # layer4 + a new fc, on the frozen layer3 outputs
    Arm("full", "full", "images", "deep"),                    # every layer trains, from the source weights
    Arm("cut-layer3", "cut-layer3", "images", "conv"),        # cut after layer3 (layer4, fc dropped), a new head
)}
_BASELINES = {a.name: a for a in (
    Arm("pixels-logreg", "linear", "pixels", "shallow", standardize=True, transfer=False),
    Arm("mlp", "mlp", "pixels", "shallow", standardize=True, transfer=False),
    Arm("small-cnn", "small-cnn", "images", "cnn", transfer=False),
    Arm("resnet50-scratch", "resnet50", "images", "conv", transfer=False),  # the source's recipe, no pretraining
)}
_LONG = ("probe-fc", "probe-layer3", "last-stage", "full", "cut-layer3", *_BASELINES)
_AUGMENTED = ("full", "cut-layer3", *_BASELINES)
#: probe-fc-long reads standardized layer4 features (as probe-layer4 does), not probe-fc's raw ones: so
#: the committed grid ran it (an old check by name, ``arm != "probe-fc"``, missed the suffix); kept as run
_AS_RUN = {"probe-fc-long": {"standardize": True}}
#: every arm by name: the short arms, then the "-long" ones, then the "-aug" ones (the grid's order)
ARMS: dict[str, Arm] = {a.name: replace(a, **_AS_RUN.get(a.name, {})) for group in (_TRANSFER, _BASELINES)
                        for a in (*group.values(),
                                  *(group[n].under("long budget") for n in _LONG if n in group),
                                  *(group[n].under("augmented") for n in _AUGMENTED if n in group))}
TRANSFER_ARMS = tuple(name for name, a in ARMS.items() if a.transfer)
BASELINE_ARMS = tuple(name for name, a in ARMS.items() if not a.transfer)


def get_arm(arm: Arm | str) -> Arm:
    """The :class:`Arm` of that name in :data:`ARMS` (an :class:`Arm` is returned as it is)."""
    if isinstance(arm, Arm):
        return arm
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; the arms are: {', '.join(ARMS)}")
    return ARMS[arm]


def rule(arm: Arm | str) -> str:
    """The budget rule ``arm`` trains under: ``"short budget"``, ``"long budget"`` (``-long``) or
    ``"augmented"`` (``-aug``). Only arms of one rule are compared."""
    return get_arm(arm).rule


def lr_candidates(arm: Arm | str, pixel_features: int = 64) -> tuple[float, ...]:
    """The learning rates ``arm`` is swept over. A pixel model on many inputs (the glyphs'
    3,072) gets smaller ones: AdamW moves every weight by about ``lr`` per step, so the logits
    move about ``lr`` x the number of inputs."""
    arm = get_arm(arm)
    return LRS["wide"] if arm.features == "pixels" and pixel_features > 256 else LRS[arm.lrs]


def build_arm(arm: Arm | str, source_model: nn.Module, num_classes: int, seed: int,
              native: tuple[int, int] = NATIVE_PIXELS["digits"]) -> tuple[nn.Module, str]:
    """A fresh model for ``arm`` (seeded) and the key of its input in
    :func:`~course_utils.experiments.features.prepare_target` (``native``: the target's
    (size, channels) of ``"pixels"``, as given to it).

    An augmented arm is its long arm behind :class:`~course_utils.augment.RandomAffine`, on
    ``"images"``; a pixel model then pools and standardizes each augmented image itself
    (:class:`~course_utils.experiments.features.Pixels`, then a
    :class:`~course_utils.experiments.features.Standardize` that ``run_cell`` fits).
    """
    arm = get_arm(arm)
    pixel_features = native[1] * native[0] ** 2
    torch.manual_seed(seed)
    model = _model(arm, source_model, num_classes, pixel_features)
    if not arm.augment:
        return model, arm.features
    if arm.features == "pixels":
        model = nn.Sequential(Pixels(*native), *([Standardize(pixel_features)] if arm.standardize else []), model)
    return nn.Sequential(RandomAffine(), model), "images"


def _width(arm: Arm, source_model: nn.Module, pixel_features: int) -> int:
    """The width of a flat input: a stage's channels double from layer1 to layer4 (fc's input)."""
    if arm.features == "pixels":
        return pixel_features
    return source_model.fc.in_features >> (len(STAGES) - 1 - STAGES.index(arm.features))


def _model(arm: Arm, source_model: nn.Module, num_classes: int, pixel_features: int) -> nn.Module:
    if arm.model == "linear":
        return nn.Linear(_width(arm, source_model, pixel_features), num_classes)
    if arm.model == "mlp":  # notebook 03's 9,610-parameter MLP on the digits' 8x8 pixels
        return nn.Sequential(nn.Linear(_width(arm, source_model, pixel_features), 128), nn.ReLU(),
                             nn.Linear(128, num_classes))
    if arm.model == "small-cnn":
        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                             *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(64, num_classes))
    if arm.model == "resnet50":  # the source model's architecture and init recipe, no pretraining
        return resnet50(weights=None, num_classes=num_classes, zero_init_residual=True)
    if arm.model == "last-stage":  # layer4 + a new fc, trained on the frozen layer3 outputs
        head = nn.Linear(source_model.fc.in_features, num_classes)
        return nn.Sequential(copy.deepcopy(source_model.layer4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    if arm.model == "cut-layer3":  # the source model cut after layer3 (layer4 and fc dropped), a new head
        body = [getattr(source_model, name) for name in STEM + STAGES[:3]]
        head = nn.Linear(source_model.fc.in_features // 2, num_classes)
        return nn.Sequential(*copy.deepcopy(body), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             head).requires_grad_(True)
    model = copy.deepcopy(source_model)  # "full": every layer trains, from the source weights
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model.requires_grad_(True)
