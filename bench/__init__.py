"""The bridge's benchmark: real servers, the bridge as a process, simulated stations.

``python -m bench.run --size smoke|small|full`` prints one table of figures
measured side by side in one run; see docs/performance.md for what each means.
"""
