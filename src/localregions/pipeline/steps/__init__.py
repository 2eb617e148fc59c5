"""The steps of the pipeline: one function per Snakemake rule, called by the rule's script (``scripts/<rule>.py``).

Each step takes, as keyword arguments, exactly the files and settings its rule declares (the
rule's ``input``, ``output`` and ``params``, settings typed by :mod:`..settings`), reads nothing
else and writes exactly its outputs, atomically. A rule's ``params`` are its rerun trigger:
Snakemake reruns a step when one of them changes. Heavy imports (torch, pandas, matplotlib,
the solvers) happen inside the steps, so that a job pays only for what it uses.

* :mod:`.data`: raw -> processed (``download_mnist``, ``prepare_data``);
* :mod:`.training`: processed -> checkpoints (``train``);
* :mod:`.measures`: checkpoints -> per-point and per-ball tables (``bounds``, ``tightness``,
  ``methods``, ``radius_sweep``);
* :mod:`.slices`: checkpoints -> exact 2-D slices through a few points, a figure per depth and their
  numbers (``slices``);
* :mod:`.tables`: per-point tables -> summaries and claims (``aggregate``, ``claims``,
  ``variant_claims``, ``tightness_table``, ``methods_table``);
* :mod:`.products`: summaries -> figures, the comparison with the reference, the report.
"""
