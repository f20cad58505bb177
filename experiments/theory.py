"""Check every formal statement of section 4 and appendix C numerically.

    python -m experiments.theory --instances=1000 --out=runs/theory.md

Prints the table and writes it, with what each verdict means, to --out.
"""

import time

from absl import flags

from bn_smooth import theory
from bn_smooth.paper import theory_report
from experiments import cli

_INSTANCES = flags.DEFINE_integer("instances", 1000, "Random instances per statement.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the instances.")
_OUT = flags.DEFINE_string(
    "out", "runs/theory.md", "Where to write the table (the suite's is in its figures)."
)


def check_and_write(instances: int, seed: int, out) -> tuple[list[dict], float]:
    """Run every check, print the table and write it to `out`; (rows, seconds)."""
    print(
        f"theory: every statement of section 4 and appendix C on {instances:,} random "
        "instances (on 2 CPU cores, about a minute for 1,000)",
        flush=True,
    )
    start = time.time()
    rows = theory.check_all_in_float64(instances, seed)
    seconds = time.time() - start
    print(theory_report.markdown_table(rows))
    print(f"{len(rows)} statements, {instances} instances each, {seconds:.0f} s")
    command = f"`python -m experiments.theory --instances={instances} --seed={seed}`"
    theory_report.write_markdown(rows, out, command, seconds)
    return rows, seconds


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    check_and_write(_INSTANCES.value, _SEED.value, _OUT.value)


if __name__ == "__main__":
    cli.run(main)
