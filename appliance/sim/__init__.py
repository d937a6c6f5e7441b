"""Simulators: the reference acquirer, simulated device transports, the demo shop and torture.

Nothing here ships as part of a terminal's decisions: simulators may import product code, and
product code never imports them (only the CLI's ``acquirer``, ``demo`` and ``screenshots``
commands do). They are our own, so they are not oracles: tests that decide correctness check
against references we did not write.
"""
