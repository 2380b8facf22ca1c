"""Training: exactly the code that determines a run's numbers (spec, model, augmentation,
batches, metrics, trainer, checkpoints), the run store and the run identity."""
