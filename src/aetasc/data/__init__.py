"""The two data sets of the study, in the layouts of the real releases.

`tut2018` and `audioset` read (and, for the synthetic world, write) the layouts of TUT Urban
Acoustic Scenes 2018 and AudioSet; `synthetic` generates a world in those layouts;
`tut2018_source` and `audioset_source` acquire the real releases into them.
"""
