"""Each sweep figure draws from plain numbers into a PNG."""

from __future__ import annotations

from weightsearch.tracking import plots


def test_every_figure_saves_a_png(tmp_path):
    figures = {
        "history": plots.optimization_history([0, 1, 3], [0.5, 0.7, 0.2], "val/action/mse", "minimize"),
        "importances": plots.param_importances({"lr": 0.7, "strategy": 0.3}, "val/action/mse"),
        "message": plots.message_figure("Parameter importances", "too few COMPLETE trials (1)"),
        "intermediate": plots.intermediate_values({0: ([1, 2], [0.5, 0.4]), 1: ([1], [0.9])}, {1}, "val/action/mse"),
        "many": plots.intermediate_values({n: ([1, 2], [1.0, 0.1 * n]) for n in range(20)}, {3, 4}, "val/action/mse"),
        "pareto": plots.pareto_fronts({"action": [0.1, 0.2, 0.3], "align": [0.3, 0.1, 0.4], "recon": [1, 2, 3]}),
        "weights": plots.weight_trajectories({3: {"action": ([10, 20], [1.0, 1.2]), "align": ([10, 20], [1.0, 0.8])}}),
    }
    for name, figure in figures.items():
        path = plots.save(figure, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000, name
