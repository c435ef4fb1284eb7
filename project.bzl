"""Facts about bty itself that more than one rule states."""

# The license of bty's own code, as an SPDX identifier: the wheels' metadata
# and the SBOMs (the programs bty builds) say it.
LICENSE = "Apache-2.0"
