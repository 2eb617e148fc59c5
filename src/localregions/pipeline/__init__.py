"""The pipeline: Hydra settings, the file layout, the plan of jobs and the steps the Snakefile runs.

Entry point: ``python -m localregions.pipeline`` (see :mod:`localregions.pipeline.cli`).
"""
