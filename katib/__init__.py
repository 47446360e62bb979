"""Katib extension: suggestion service (`nac`, `warm-start`), trial CLI, local runner.

Subpackages: `katib.api` (Katib v1beta1 gRPC stubs), `katib.suggestion` (the service),
`katib.trial` (trial entrypoint), `katib.nac_stats` (the nac-stats metric), `katib.local`
and `katib.backends` (experiment runners). Importing `katib` imports none of them.
"""
