"""``python -m kb_index``: see `kb_index.cli`."""
from kb_index.cli import main

raise SystemExit(main())
