"""``python -m appliance`` runs the ``countertop`` command line."""

from appliance.cli import main

raise SystemExit(main())
