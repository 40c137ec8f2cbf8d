"""``python -m pl_eval`` runs the ``pl-eval`` command line."""

from pl_eval.cli import main

raise SystemExit(main())
