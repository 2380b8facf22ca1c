"""Events: the tagger that ranks event classes, PANNs' CNN14, and the AET subsets of k classes
and T hours."""
