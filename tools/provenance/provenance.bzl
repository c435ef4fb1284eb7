"""provenance: the release's SLSA provenance, made by //tools/provenance from //:verify's report."""

load("@bty_version//:version.bzl", "VERSION")

def _provenance_impl(ctx):
    out = ctx.actions.declare_file("bty-v%s.intoto.jsonl" % VERSION)
    args = ctx.actions.args()
    args.add("-report", ctx.file.report)
    args.add("-status", ctx.info_file)
    args.add("-bazel-version", ctx.file._bazel_version)
    args.add("-release-config", ctx.file._release_config)
    args.add("-version", VERSION)
    args.add("-out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [ctx.file.report, ctx.info_file, ctx.file._bazel_version, ctx.file._release_config],
        outputs = [out],
        mnemonic = "Provenance",
        progress_message = "Writing the provenance %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

provenance = rule(
    implementation = _provenance_impl,
    doc = "bty-v<ver>.intoto.jsonl: an in-toto statement of SLSA provenance v1 whose subjects are the report's artifacts and which carries the report.",
    attrs = {
        "report": attr.label(mandatory = True, allow_single_file = [".json"], doc = "//:verify's report (//:verify_report)."),
        "_bazel_version": attr.label(default = "//:.bazelversion", allow_single_file = True),
        "_release_config": attr.label(default = "//release:config.toml", allow_single_file = True),
        "_tool": attr.label(default = "//tools/provenance", executable = True, cfg = "exec"),
    },
)
