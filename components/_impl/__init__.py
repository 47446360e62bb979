"""What the component bodies call: one module per step plus shared artifact/report helpers.

Component functions (components/<step>.py) only import from here, so their embedded source
stays a docstring and one call, and these modules are unit-testable without KFP.

Importing this package first checks that the image's package is the version the pipeline was
compiled from (runtime.check_image_version), so every step fails fast, before reading any
input, when image and pipeline disagree.
"""

from components._impl.runtime import check_image_version

check_image_version()
