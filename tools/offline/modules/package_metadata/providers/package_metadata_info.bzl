"""Stand-in for the package_metadata module's provider (offline builds only).

Gazelle's generated repositories load it; nothing in this repository reads it.
"""

PackageMetadataInfo = provider(
    doc = "Metadata about a package (stand-in: carries no fields).",
    fields = [],
)
