"""The chip-fit report: each block's use of a Loihi core, as nengo-loihi counts it."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from k2l_course.chip import chipfit  # noqa: E402
from k2l_course.stack import import_stack  # noqa: E402

tf, nengo, nengo_dl, nengo_loihi = import_stack()


def one_ensemble_network(n_neurons, block_shape=None):
    """A host node driving one on-chip ensemble of ``n_neurons``."""
    with nengo.Network(seed=0) as net:
        nengo_loihi.add_params(net)
        stim = nengo.Node([0.5])
        ens = nengo.Ensemble(n_neurons, 1, label="big")
        nengo.Connection(stim, ens)
        nengo.Probe(ens.neurons)
        if block_shape is not None:
            net.config[ens].block_shape = nengo_loihi.BlockShape(block_shape, (n_neurons,))
    return net


def test_limits_are_nengo_loihis_own():
    from nengo_loihi import block

    assert chipfit.core_limits() == {
        "compartments": block.MAX_COMPARTMENTS,
        "in-axons": block.MAX_IN_AXONS,
        "out-axons": block.MAX_OUT_AXONS,
        "synapses": block.MAX_SYNAPSE_BITS,
    }
    assert chipfit.core_limits()["synapses"] == 1_048_576
    assert chipfit.cores_per_chip() == 128


def test_an_ensemble_too_big_for_a_core_is_split_automatically():
    report = chipfit.fit_report(one_ensemble_network(2000))
    assert report.n_cores == 2
    assert report.n_chips == 1
    assert [b.used["compartments"] for b in report.blocks] == [1000, 1000]
    assert report.blocks[0].percent("compartments") == pytest.approx(100 * 1000 / 1024)
    assert report.fits and report.error is None


def test_a_block_beyond_a_limit_is_reported_with_nengo_loihis_error():
    net = one_ensemble_network(2000, block_shape=(2000,))
    report = chipfit.fit_report(net)
    (block,) = report.blocks
    assert block.over() == ["compartments"]
    assert block.percent("compartments") == pytest.approx(100 * 2000 / 1024)
    assert not report.fits
    assert "Number of compartments (2000) exceeded max (1024)" in report.error
    with pytest.raises(nengo.exceptions.BuildError) as raised:
        nengo_loihi.Simulator(net, progress_bar=False)
    assert str(raised.value) == report.error


def test_cores_beyond_one_chip_need_another_chip():
    limits = chipfit.core_limits()
    block = chipfit.BlockFit("b", {r: 1 for r in chipfit.RESOURCES}, limits)
    assert chipfit.FitReport([block] * 128, cores_per_chip=128).n_chips == 1
    assert chipfit.FitReport([block] * 129, cores_per_chip=128).n_chips == 2


def test_report_is_plain_data():
    report = chipfit.fit_report(one_ensemble_network(300))
    (row,) = report.as_dicts()
    assert row["compartments"] == 300
    assert row["compartments %"] == pytest.approx(100 * 300 / 1024)
    assert row["fits"] is True
    assert set(row) == {"label", "fits"} | set(chipfit.RESOURCES) | {f"{r} %" for r in chipfit.RESOURCES}


def test_table_marks_exceeded_limits_and_the_error():
    table = chipfit.format_table(chipfit.fit_report(one_ensemble_network(2000, block_shape=(2000,))))
    assert "2,000 (195.3%)!" in table
    assert "1 cores (one block per core) on 1 chip(s) of 128 cores" in table
    assert "build error: " in table and "exceeded max (1024)" in table


def test_plot_has_a_bar_per_block_and_resource_and_the_limit_line():
    report = chipfit.fit_report(one_ensemble_network(2000))
    ax = chipfit.plot_fit(report)
    assert len(ax.patches) == report.n_cores * len(chipfit.RESOURCES)
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights[-1] == pytest.approx(100 * 1000 / 1024)
    assert any(np.allclose(line.get_ydata(), 100) for line in ax.get_lines())


@pytest.fixture(scope="module")
def seed_scenarios(mnist):
    from k2l_course.chip import loihi as chip
    from k2l_course.pipeline.model import build_seed_model

    deployment = chip.seed_deployment(mnist.test_images[:1])
    conv0 = deployment.converted.ensembles["conv0"]
    before = deployment.net.config[conv0].block_shape
    scenarios = chipfit.block_shape_scenarios(deployment, build_seed_model())
    scenarios["restored"] = deployment.net.config[conv0].block_shape is before
    return scenarios


def test_seed_block_shapes_fit_14_cores_of_one_chip(seed_scenarios):
    report = seed_scenarios["seed block shapes"]
    assert report.fits
    assert (report.n_cores, report.n_chips) == (14, 1)
    assert [b.used["compartments"] for b in report.blocks] == [676] * 8 + [576] * 4 + [50] * 2
    # dense0's 2,304 input axons each carry 50 weights: 98% of the synapse memory
    assert report.max_percent("synapses") == pytest.approx(100 * 1_032_192 / 1_048_576)


def test_nengo_loihi_1_1_splits_the_seed_network_by_itself(seed_scenarios):
    """Without block shapes nengo-loihi 1.1 splits each layer sequentially, and it fits."""
    report = seed_scenarios["automatic split"]
    assert report.fits
    assert report.n_cores == 14
    assert [b.used["compartments"] for b in report.blocks] == [902] * 5 + [898] + [384] * 6 + [50] * 2


def test_one_block_per_layer_does_not_fit(seed_scenarios):
    report = seed_scenarios["one block per layer"]
    assert report.n_cores == 3
    conv0, conv1, dense0 = report.blocks
    assert conv0.over() == ["compartments"]
    assert conv1.over() == ["compartments", "synapses"]
    assert dense0.over() == ["synapses"]
    assert report.error == "Compartment(<Ensemble 'conv0.0'>): Number of compartments (5408) exceeded max (1024)"
    assert [b.label for b in report.blocks] == ["conv0.0", "conv1.0", "dense0.0"]



def test_scenarios_restore_the_deployments_block_shapes(seed_scenarios):
    assert seed_scenarios["restored"]
