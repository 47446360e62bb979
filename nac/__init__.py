"""NAC: Neural Architecture Construction with EnvelopeNets (library, no KFP/gRPC imports)."""

__version__ = "0.1.0"
