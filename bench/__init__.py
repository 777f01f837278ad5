"""Benchmark of the project on the machine it runs on: ``python -m bench`` or ``make bench``.

Every figure is the median of several runs with their minimum and maximum, and every comparison
is a ratio of runs interleaved in the same sitting, because the machines are shared and absolute
times drift. Servers are started on free 127.0.0.1 ports and stopped at the end.
"""
