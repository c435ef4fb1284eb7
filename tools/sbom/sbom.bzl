"""spdx_sbom: an artifact's SPDX 2.3 SBOM, written by //tools/sbom from what Bazel knows."""

load("@bty_version//:version.bzl", "VERSION")
load("//:project.bzl", "LICENSE")

GoReposInfo = provider(
    doc = "The Bazel repositories whose Go code a binary links.",
    fields = {"repos": "depset of canonical repository names"},
)

def _go_repos_impl(target, ctx):
    deps = []
    for attr in ["deps", "embed", "target"]:
        value = getattr(ctx.rule.attr, attr, None)
        if value == None:
            continue
        if type(value) != "list":
            value = [value]
        for d in value:
            if GoReposInfo in d:
                deps.append(d[GoReposInfo].repos)
    own = [target.label.workspace_name] if ctx.rule.kind in ["go_library", "go_binary", "go_source"] else []
    return [GoReposInfo(repos = depset(own, transitive = deps))]

# Follows a Go binary's libraries (and go_cross_binary's target) to the
# repositories they come from: the modules the binary carries.
go_repos_aspect = aspect(
    implementation = _go_repos_impl,
    attr_aspects = ["deps", "embed", "target"],
)

def _spdx_sbom_impl(ctx):
    artifacts = [f for f in ctx.files.artifact if not f.is_directory]
    if len(artifacts) != 1:
        fail("artifact must be one file, is %s" % artifacts)
    artifact = artifacts[0]
    out = ctx.actions.declare_file(artifact.basename + ".spdx.json")
    args = ctx.actions.args()
    args.add("-artifact", artifact)
    args.add("-version", VERSION)
    args.add("-release-config", ctx.file._release_config)
    args.add("-purpose", ctx.attr.purpose)
    args.add("-license", LICENSE)
    args.add("-go-mod", ctx.file._go_mod)
    args.add("-go-sum", ctx.file._go_sum)
    for b, name in ctx.attr.go_binaries.items():
        args.add("-go-binary", "%s=%s" % (name, ",".join(sorted(b[GoReposInfo].repos.to_list()))))
    args.add_all(ctx.files.debs, before_each = "-deb")
    if ctx.attr.oci:
        args.add("-oci")
    args.add("-out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [artifact, ctx.file._go_mod, ctx.file._go_sum, ctx.file._release_config] + ctx.files.debs,
        outputs = [out],
        mnemonic = "SBOM",
        progress_message = "Writing the SBOM %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

spdx_sbom = rule(
    implementation = _spdx_sbom_impl,
    doc = "The SPDX 2.3 SBOM of one release artifact, <artifact>.spdx.json: its Go binaries' modules (from the build graph, go.mod and go.sum), its Debian packages (name, version, sha256, license), an image's layers.",
    attrs = {
        "artifact": attr.label(mandatory = True, allow_files = True, doc = "The artifact (one file; a target whose other outputs are directories)."),
        "debs": attr.label_list(allow_files = [".json"], doc = "metadata.json of each pinned Debian package the artifact holds files of (@debian_x//:metadata.json)."),
        "go_binaries": attr.label_keyed_string_dict(aspects = [go_repos_aspect], doc = "Each Go binary the artifact holds -> its name in the SBOM (e.g. \"bty-web linux/arm64\")."),
        "oci": attr.bool(doc = "The artifact is an OCI image layout tarball: list its layers."),
        "purpose": attr.string(default = "FILE", doc = "SPDX primary package purpose of the artifact."),
        "_go_mod": attr.label(default = "//:go.mod", allow_single_file = True),
        "_go_sum": attr.label(default = "//:go.sum", allow_single_file = True),
        "_release_config": attr.label(default = "//release:config.toml", allow_single_file = True),
        "_tool": attr.label(default = "//tools/sbom", executable = True, cfg = "exec"),
    },
)
