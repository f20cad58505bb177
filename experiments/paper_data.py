"""Read the paper's plotted data back from its arXiv v3 PDF, one JSON file per panel.

    pip install -e ".[paper]"
    python -m experiments.paper_data --pdf=../shared/paper/arxiv_1805.11604v3.pdf

Writes bn_smooth/paper/data/figure_NN<panel>.json (the text's figure numbers), which the
repository commits: the overlays and REPORT.md's agreement table read those, not the PDF.
A test re-extracts them and compares. Takes a few seconds.
"""

from absl import flags

from bn_smooth.paper import paper_data
from experiments import cli

_PDF = flags.DEFINE_string(
    "pdf", f"../shared/paper/{paper_data.PDF_NAME}", "The paper's arXiv v3 PDF."
)
_OUT = flags.DEFINE_string("out", str(paper_data.DATA_DIR), "Where to write the panels.")


def main(argv):
    cli.check_no_arguments(argv)
    try:
        records = paper_data.extract(_PDF.value)
    except (FileNotFoundError, ValueError) as e:
        cli.user_error(str(e))
    written = paper_data.write(records, _OUT.value)
    print(f"wrote {len(written)} panels to {_OUT.value}")


if __name__ == "__main__":
    cli.run(main)
