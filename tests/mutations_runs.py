"""The mutation check's mistakes in how a run is kept: the arithmetic it records, the code
generation it pins, its checkpoints, its failures, a full disk, a resume.
"""

from tests.mutation import mutation

NO_YNNPACK = (
    "tests/test_arithmetic.py::test_every_program_of_a_dln_run_compiles_without_ynnpack_dot_fusions"
)

MUTATIONS = [
    mutation(
        "arithmetic-overwritten",
        "a resumed run's config.json keeps only the last arithmetic it was trained under",
        "bn_smooth/arithmetic.py",
        "return settings if same else [*settings, now]",
        "return [now]",
        "tests/test_arithmetic.py::test_config_json_records_each_arithmetic_the_run_was_trained_under",
    ),
    mutation(
        "arithmetic-new-field-new-setting",
        "a run recorded before a field was added is recorded as retrained under a new setting",
        "bn_smooth/arithmetic.py",
        "same = settings and all(now.get(k) == v for k, v in settings[-1].items())",
        "same = settings and settings[-1] == now",
        "tests/test_arithmetic.py::test_config_json_records_each_arithmetic_the_run_was_trained_under",
    ),
    mutation(
        "cpu-isa-narrowest",
        "the CPU's record names its narrowest vector instruction set, not the widest",
        "bn_smooth/arithmetic.py",
        "isa = next((name for flag, name in VECTOR_ISAS if flag in flags)",
        "isa = next((name for flag, name in VECTOR_ISAS[::-1] if flag in flags)",
        "tests/test_arithmetic.py::test_the_cpu_is_recorded_by_vendor_family_model_and_widest_vector_isa",
    ),
    mutation(
        "dln-options-dropped",
        "a DLN asked to compile without YNNPACK's dot fusions compiles with them",
        "bn_smooth/tasks.py",
        "task = dataclasses.replace(task, compiler_options=options)",
        "task = dataclasses.replace(task, compiler_options=())",
        NO_YNNPACK,
    ),
    mutation(
        "probes-without-task-options",
        "the probes compile without the task's compile options",
        "bn_smooth/probes.py",
        "measure=task.jit(measure, out_shardings=out)",
        "measure=jax.jit(measure, out_shardings=out)",
        NO_YNNPACK,
    ),
    mutation(
        "window-without-task-options",
        "the training window compiles without the task's compile options",
        "bn_smooth/train.py",
        "return task.jit(precision.traced_at(task.precision, chunk), static_argnums=2)",
        "return jax.jit(precision.traced_at(task.precision, chunk), static_argnums=2)",
        NO_YNNPACK,
    ),
    mutation(
        "unknown-options-kept",
        "compile options this jaxlib lacks are passed on",
        "bn_smooth/arithmetic.py",
        'if jax.default_backend() != "cpu" or not xla_accepts(options):',
        'if jax.default_backend() != "cpu":',
        "tests/test_arithmetic.py::test_compile_options_this_jaxlib_lacks_are_left_out",
    ),
    mutation(
        "fingerprint-records-pile-up",
        "a machine's new fingerprint is added beside its old one instead of replacing it",
        "experiments/arithmetic_fingerprint.py",
        "return [r for r in records if key(r) != key(record)] + [record]",
        "return [*records, record]",
        "tests/test_arithmetic.py::test_fingerprint_records_merge_by_cpu_and_jaxlib_and_agree_per_setting",
    ),
    mutation(
        "fingerprint-without-the-flags",
        "each setting's process inherits the user's XLA flags instead of the setting's",
        "experiments/arithmetic_fingerprint.py",
        "env = dict(os.environ, XLA_FLAGS=xla_flags, PYTHONPATH=str(root))",
        "env = dict(os.environ, PYTHONPATH=str(root))",
        "tests/test_arithmetic.py::test_a_fingerprint_repeats_and_sees_the_exact_rsqrt",
    ),
    mutation(
        "codegen-unpinned",
        "the entrypoints leave the code generation to the host CPU and XLA_FLAGS",
        "experiments/cli.py",
        "    pin_codegen()\n    app.run(main, flags_parser=parse_flags)",
        "    app.run(main, flags_parser=parse_flags)",
        "tests/test_arithmetic.py::test_the_entrypoints_pin_the_code_generation",
    ),
    mutation(
        "codegen-pin-overrides-the-user",
        "the entrypoints add their instruction-set cap beside an instruction set of the user's own",
        "experiments/cli.py",
        'in ("x86_64", "amd64") and "--xla_cpu_max_isa" not in xla_flags:',
        'in ("x86_64", "amd64"):',
        "tests/test_arithmetic.py::test_the_entrypoints_pin_the_code_generation",
        "tests/test_arithmetic.py::test_a_users_own_instruction_set_wins_and_other_cpus_are_left_alone",
    ),
    # Faults: what a corrupt checkpoint, a full disk or a failed set-up leaves
    mutation(
        "corrupt-checkpoint-fatal",
        "a checkpoint that cannot be read ends the run, the older intact one unused",
        "bn_smooth/checkpoints.py",
        "        for step in steps:\n",
        "        for step in steps[:1]:\n",
        "tests/test_recovery.py::test_a_corrupt_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before",
    ),
    mutation(
        "failed-setup-at-step-0",
        "a run that fails while setting up is recorded as failed at step 0",
        "bn_smooth/loop.py",
        "step = run.step if run is not None else reached",
        "step = run.step if run is not None else 0",
        "tests/test_recovery.py::test_a_failure_while_setting_up_keeps_the_step_the_run_had_reached",
    ),
    mutation(
        "full-disk-half-line",
        "a full disk leaves half a metrics row behind",
        "bn_smooth/runlog.py",
        "            os.ftruncate(fd, size)\n",
        "",
        "tests/test_recovery.py::test_a_full_disk_loses_nothing_written_and_says_where",
    ),
    mutation(
        "new-field-refused",
        "a config field newer than the workdir refuses to resume even at its default",
        "bn_smooth/resume.py",
        "and not (key not in old and key in defaults and new.get(key) == defaults[key])",
        "and True",
        "tests/test_train.py::test_a_field_newer_than_the_workdir_resumes_at_its_default_only",
    ),
    mutation(
        "digest-unchecked",
        "a checkpoint is restored without checking its files against their digest",
        "bn_smooth/checkpoints.py",
        "            changed = changed_file(self.folder / str(step))\n",
        "            changed = None\n",
        "tests/test_recovery.py::test_no_readable_checkpoint_is_one_line_that_says_how_to_start_over",
    ),
    mutation(
        "digest-of-sizes",
        "a checkpoint's digest records its files' sizes, not their contents",
        "bn_smooth/checkpoints.py",
        'return hashlib.file_digest(f, "sha256").hexdigest()',
        "return str(path.stat().st_size)",
        "tests/test_recovery.py::test_a_checkpoint_digest_names_the_file_that_changed",
    ),
]
