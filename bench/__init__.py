"""``make bench``: benchmarks of the product beside baselines measured in the same run.

``bench.run`` runs every scenario module in ``bench.scenarios`` and prints one table;
``bench.load`` is the HTTP load generator (always its own process); ``bench.data``
builds stores through the real commands; ``bench.baselines`` holds the raw store
rates each figure is compared with.
"""
