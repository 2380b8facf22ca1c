"""Features: audio decoding, the log-mel front end, and the feature tables every run reads."""
