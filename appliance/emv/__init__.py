"""EMV contactless kernel: pure code over a ``transceive(apdu) -> response`` callable.

``read_emv(transceive, terminal, *, unpredictable_number=None) -> CardRead`` is the entry
point; ``bench.bench_card(n)`` times it.
"""
