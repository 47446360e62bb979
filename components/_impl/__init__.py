"""What the component bodies call: one module per step plus shared artifact/report helpers.

Component functions (components/<step>.py) only import from here, so their embedded source
stays a docstring and one call, and these modules are unit-testable without KFP.
"""
