"""Stand-in for the package_metadata rule (offline builds only)."""

load("//providers:package_metadata_info.bzl", "PackageMetadataInfo")

def _package_metadata_impl(_ctx):
    return [PackageMetadataInfo()]

_package_metadata = rule(
    implementation = _package_metadata_impl,
    attrs = {
        "attributes": attr.label_list(),
        "purl": attr.string(),
    },
)

def package_metadata(name, visibility = None, **kwargs):
    # applicable_licenses must be empty: the default would point the rule at
    # itself and Bazel reports a cycle.
    _package_metadata(
        name = name,
        visibility = visibility,
        applicable_licenses = [],
        **kwargs
    )
