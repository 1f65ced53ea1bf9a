"""Benchmarks: cutout quality and speed, side by side with rembg on the same model files.

Run ``make bench`` (or ``python -m bench --model u2net``). Figures, not tests.
"""
