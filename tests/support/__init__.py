"""Helpers shared by the tests and the benchmarks: synthetic data, nothing the library ships."""
