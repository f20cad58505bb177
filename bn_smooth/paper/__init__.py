"""The reproduction of Santurkar et al. (2018): its figures and their panels, its claims
and their verdicts, REPORT.md, the C4 study's analysis and the theory report.

Everything here reads finished runs through `bn_smooth.results`; the measurement library
beside it (`bn_smooth.landscape`, `ics`, `curvature`, `probes`, ...) knows nothing of the
paper.
"""
