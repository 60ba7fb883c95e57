"""Stateful monitors: each polls its sources and hands the evaluators plain values."""
