"""Speed and memory benchmarks for minigrad (scripts, not part of the installed package)."""
