"""Stage 3 of the pipeline: the plan, every hook of every phase in run order. Pure: no root,
no network, no disk."""
