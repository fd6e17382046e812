"""Speed and memory benchmarks, run on purpose (see benchmarks/__main__.py)."""
