"""What decides a run's float32 arithmetic beyond its config: config.json's record of it
(bn_smooth.arithmetic), and the code generation the entrypoints pin (experiments.cli)."""

import os
import subprocess
import sys

import pytest

from bn_smooth import arithmetic, loop, runlog
from tests.conftest import (
    FAST_COMPILE,
    OLDER_FUSION_CODE,
    dln_config,
    shared_cifar_dir,
    xla_flags,
    xla_knows,
)
from tests.test_train import ROOT


def test_config_json_records_each_arithmetic_the_run_was_trained_under(tmp_path, monkeypatch):
    loop.train_and_evaluate(dln_config(num_steps=10), tmp_path)
    first = runlog.read_config(tmp_path)[arithmetic.KEY]
    assert first == [arithmetic.current()]
    # Resumed under another code-generation setting: allowed, and both are recorded.
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=512")
    loop.train_and_evaluate(dln_config(num_steps=20), tmp_path)
    loop.train_and_evaluate(dln_config(num_steps=30), tmp_path)  # the same again: once
    settings = runlog.read_config(tmp_path)[arithmetic.KEY]
    assert settings[0] == first[0] and len(settings) == 2
    assert settings[1]["XLA_FLAGS"] == "--xla_cpu_prefer_vector_width=512"
    # A record from before a field was added (the CPU's identity) is the same setting.
    old = runlog.read_config(tmp_path)
    del old[arithmetic.KEY][-1]["CPU identity"]
    runlog.write_config(tmp_path, old)
    loop.train_and_evaluate(dln_config(num_steps=35), tmp_path)
    assert len(runlog.read_config(tmp_path)[arithmetic.KEY]) == 2
    # A workdir from before the record resumes.
    old = runlog.read_config(tmp_path)
    del old[arithmetic.KEY]
    runlog.write_config(tmp_path, old)
    assert loop.train_and_evaluate(dln_config(num_steps=40), tmp_path)["step"] == 40


def test_the_cpu_is_recorded_by_vendor_family_model_and_widest_vector_isa():
    """The name alone does not tell two CPUs apart ("AMD EPYC" on both of
    docs/reproduction.md's AMD machines); YNNPACK's kernels follow the vector ISA."""
    zen4 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17", "stepping": "1"}
    flags = "fpu sse2 avx avx2 avx512f avx512bw"
    assert (
        arithmetic.cpu_identity({**zen4, "flags": flags})
        == "AuthenticAMD family 25 model 17 stepping 1 (AVX-512)"
    )
    assert arithmetic.cpu_identity({**zen4, "flags": "sse2 avx avx2 fma"}).endswith("(AVX2)")
    assert arithmetic.cpu_identity({**zen4, "flags": "sse2"}).endswith("(SSE2)")
    assert arithmetic.cpu_identity({**zen4}).endswith("(no vector ISA listed)")
    assert arithmetic.cpu_identity({"processor": "0"}) == arithmetic.platform.machine()


@pytest.mark.skipif(shared_cifar_dir() is None, reason="real CIFAR-10 not beside the project")
def test_the_entrypoints_pin_the_code_generation(tmp_path):
    """Through an entrypoint (pinned), --xla_cpu_prefer_vector_width=512 trains a BatchNorm
    VGG on CIFAR-10 bit for bit as without it, while an instruction set of the user's own
    wins over the pin and moves the losses within 12 steps."""
    from experiments import cli

    def losses(name, xla_flags):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "experiments.vgg_cifar",
                "--config=bn_smooth/configs/vgg_cifar.py:norm=batch,scale=smoke",
                f"--workdir={tmp_path / name}",
                f"--config.data_dir={shared_cifar_dir()}",
                "--config.num_steps=12",
                # Training only: the probes and the evaluation would only add compiling.
                "--config.eval_every=0",
                *(f"--config.probe.{kind}.every=0" for kind in ("landscape", "ics", "activations")),
            ],
            cwd=ROOT,
            env=dict(os.environ, XLA_FLAGS=xla_flags, PYTHONPATH=str(ROOT)),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        recorded = runlog.read_config(tmp_path / name)[arithmetic.KEY][0]["XLA_FLAGS"]
        return recorded, [r["loss"] for r in runlog.read_metrics(tmp_path / name, "train")]

    wide = "--xla_cpu_prefer_vector_width=512"
    flags, default = losses("default", "")
    assert flags == cli.PINNED_CODEGEN
    assert losses("wide", wide) == (f"{wide} {cli.PINNED_CODEGEN}", default)
    # The user's instruction set is kept and moves the losses: the comparison above can
    # fail. (Not the vector width alone: on an AMD EPYC it changed nothing unpinned.)
    sse = "--xla_cpu_max_isa=SSE4_2"
    flags, other = losses("sse", sse)
    assert flags == sse and other != default


def test_the_tests_fast_compiles_ask_only_for_flags_this_xla_knows():
    assert xla_knows(FAST_COMPILE) and not xla_knows("--xla_cpu_no_such_flag=true")
    assert (OLDER_FUSION_CODE in xla_flags()) == xla_knows(OLDER_FUSION_CODE)
    assert OLDER_FUSION_CODE not in xla_flags(fast_compile=False)


def test_a_users_own_instruction_set_wins_and_other_cpus_are_left_alone(monkeypatch):
    from experiments import cli

    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=SSE4_2")
    cli.pin_codegen()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_max_isa=SSE4_2"
    monkeypatch.setattr(cli.platform, "machine", lambda: "arm64")
    monkeypatch.delenv("XLA_FLAGS")
    cli.pin_codegen()
    assert "XLA_FLAGS" not in os.environ or not os.environ["XLA_FLAGS"]


@pytest.mark.skipif(
    arithmetic.platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the settings are x86's (XLA's AVX2 cap and its approximate rsqrt)",
)
def test_a_fingerprint_repeats_and_sees_the_exact_rsqrt():
    """Each setting in a fresh process: the same setting gives the same hashes, and the
    exact rsqrt changes a BatchNorm network's (a flag that changed nothing could not be
    what makes machines agree)."""
    from experiments import arithmetic_fingerprint as fp

    programs = (("dln", "batch", 30),)
    first = fp.fingerprints({k: fp.SETTINGS[k] for k in ("entrypoints", "exact rsqrt")}, programs)
    again = fp.fingerprints({"entrypoints": fp.SETTINGS["entrypoints"]}, programs)
    assert again["entrypoints"] == first["entrypoints"]
    assert first["exact rsqrt"] != first["entrypoints"]
    assert set(first["exact rsqrt"]) == {"dln batch"}


def test_fingerprint_records_merge_by_cpu_and_jaxlib_and_agree_per_setting():
    from experiments import arithmetic_fingerprint as fp

    def record(cpu, jaxlib, entry, pinned):
        prints = {"entrypoints": {"vgg batch": entry}, "pinned": {"vgg batch": pinned}}
        return {"CPU identity": cpu, "jaxlib": jaxlib, "fingerprints": prints}

    intel, amd = "GenuineIntel family 6 (AVX-512)", "AuthenticAMD family 25 (AVX-512)"
    records = fp.merge([], record(intel, "0.10.2", "a", "p"))
    records = fp.merge(records, record(amd, "0.10.2", "b", "p"))
    assert fp.agreement(records) == {"entrypoints": False, "pinned": True}
    # The same CPU again replaces its record; another jaxlib is another record, and only
    # the newest record's jaxlib is compared.
    records = fp.merge(records, record(amd, "0.10.2", "a", "p"))
    assert len(records) == 2 and fp.agreement(records) == {"entrypoints": True, "pinned": True}
    records = fp.merge(records, record(amd, "0.11.0", "c", "q"))
    assert len(records) == 3 and fp.agreement(records) == {"entrypoints": True, "pinned": True}
    records = fp.merge(records, record(intel, "0.11.0", "c", "r"))
    assert fp.agreement(records) == {"entrypoints": True, "pinned": False}


def _compiled_text(jitted, *args) -> str:
    return jitted.lower(*args).compile().as_text()


@pytest.mark.skipif(
    not arithmetic.cpu_options(arithmetic.NO_YNNPACK_DOTS),
    reason="this jaxlib's XLA:CPU has no YNNPACK dot fusions to turn off",
)
def test_every_program_of_a_dln_run_compiles_without_ynnpack_dot_fusions():
    """By default (`ynnpack_dots` False) the training step and window, the sweep's step and
    the probes of a DLN run hand no product to YNNPACK; with True they do, as jax.jit does."""
    from bn_smooth import probes, sweep, tasks, train

    def programs(config):
        task, data = tasks.make_task(config)
        tx = train.make_optimizer(config)
        state = train.init_state(task, tx, config.seed)
        states = sweep.init_states(task, tx, (0, 1))
        yield _compiled_text(train.make_train_step(task, tx), state, data, None)
        yield _compiled_text(train.make_train_chunk(task, tx), state, data, 3)
        yield _compiled_text(sweep.make_sweep_step(task, tx), states, data, None)
        for kind in ("landscape", "ics", "curvature"):
            probe = probes.build(kind, task, tx, config, state.params)
            yield _compiled_text(probe.measure, state, data)

    config = dln_config("batch")
    config.model.depth = 3  # compiles in seconds; the programs are the 25-layer DLN's
    config.probe.curvature.update(num_steps=3, k=1)
    assert not any("__ynn_fusion" in text for text in programs(config))
    config.ynnpack_dots = True
    assert all("__ynn_fusion" in text for text in programs(config))


def test_compile_options_this_jaxlib_lacks_are_left_out():
    unknown = (("xla_cpu_no_such_option", "1"),)
    assert not arithmetic.xla_accepts(unknown)
    assert arithmetic.cpu_options(unknown) == ()
    accepted = (("xla_backend_optimization_level", "0"),)
    assert arithmetic.cpu_options(accepted) == accepted
