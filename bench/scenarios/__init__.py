"""One module per benchmark scenario.

A scenario module exposes ``run(scale: Scale) -> list[Row]`` and may set
``ORDER`` (an int; lower runs first, default 100). ``bench.run`` finds every
module here by itself: a new scenario is a new file.
"""
