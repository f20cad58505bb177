"""bn_smooth: how BatchNorm helps optimization, measured (Santurkar et al., 2018), in JAX.

The modules are imported by name (`from bn_smooth import probes, results`);
DESIGN.md describes what each holds. A regular package, so that a copy of the
code on PYTHONPATH is never merged with an installed one.
"""
