"""What only the Kubernetes backend needs; Katib's own names are in `katib.constants`."""

from __future__ import annotations

#: Seconds between status polls while waiting.
DEFAULT_POLLING_INTERVAL = 5.0
#: HTTP status the API server returns when an object of that name already exists.
HTTP_CONFLICT = 409
