"""Sweeps on a remote Ray cluster: submit a spec as a Ray Job, list, follow and stop jobs.

The modules import Ray and the spec machinery (torch) only when a command needs them, so that
`weightsearch jobs` answers in a fraction of a second.
"""
