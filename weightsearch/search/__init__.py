"""The sweep engine: Optuna's sampler and pruner inside Ray Tune, over one study in RDB storage.

- :mod:`~weightsearch.search.tuner`: ``run_sweep(spec)``, validation first, then the Ray Tuner;
- :mod:`~weightsearch.search.searcher`: ``OptunaSearcher``, the study's sampler as a Ray searcher;
- :mod:`~weightsearch.search.pruning`: ``OptunaPruningScheduler``, the study's pruner as a Ray scheduler;
- :mod:`~weightsearch.search.bridge`: ``OptunaBridge``, every ask/report/tell between Ray trials and the study;
- :mod:`~weightsearch.search.trainable`: the Ray trainable running ``weightsearch.trial.train``;
- :mod:`~weightsearch.search.progress`, :mod:`~weightsearch.search.budget`, :mod:`~weightsearch.search.summary`:
  the live display, the time budget, the study summary of `run` and `status`.

Nothing is re-exported here: `weightsearch best` imports :mod:`~weightsearch.search.paths` and must not
pay for importing Ray.
"""
