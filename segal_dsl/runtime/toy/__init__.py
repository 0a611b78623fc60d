"""The embedded toy experiment: synthetic data (generate.py), its mmseg dataset class, a tiny model config."""
