"""Experiments: the paper's figures as grids of training runs, how they are run and what each
grid measured."""
