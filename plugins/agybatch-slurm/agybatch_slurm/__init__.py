"""agybatch-slurm: run a batch's tasks as Slurm batch jobs through the Slurm CLI."""
