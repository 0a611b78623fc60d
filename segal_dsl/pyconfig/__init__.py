"""Python config files as data: evaluate assignments without running them, merge `_base_` files as
mmcv 1.x does (with where each value came from), and write values back as literals."""
