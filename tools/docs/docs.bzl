"""guide: the user guide, built by //tools/docs as HTML (.tar.gz) or PDF."""

load("@bty_version//:version.bzl", "VERSION")
load("@io_bazel_rules_go//go:def.bzl", "GoArchive")

def _guide_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add("-version", VERSION)
    args.add("-release-config", ctx.file.release_config)
    args.add_all(ctx.files.chapters, before_each = "-chapter")
    args.add_all(ctx.files.pictures, before_each = "-picture")
    args.add_all(ctx.files.console_srcs, before_each = "-go-src")
    args.add("-" + ctx.attr.format, out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = ctx.files.chapters + ctx.files.pictures + ctx.files.console_srcs + [ctx.file.release_config],
        outputs = [out],
        mnemonic = "Guide",
        progress_message = "Building the user guide %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

guide = rule(
    implementation = _guide_impl,
    doc = "The user guide from Markdown chapters and pictures, reproducibly, as a static HTML site packed in a .tar.gz or as a PDF. Fails on a broken internal link, anchor or picture.",
    attrs = {
        "chapters": attr.label_list(allow_files = [".md"], mandatory = True, doc = "The chapters, in reading order."),
        "console_srcs": attr.label_list(allow_files = [".go"], doc = "Go sources of the programs whose console lines the guide lists (a chapter's `<!-- bty-docs: console-lines -->`)."),
        "format": attr.string(mandatory = True, values = ["html", "pdf"], doc = "html: a .tar.gz of the site; pdf: the PDF."),
        "out": attr.string(mandatory = True, doc = "Output file name."),
        "pictures": attr.label_list(allow_files = [".diagram", ".png"], doc = "The pictures the chapters show: docs/pictures/NAME.diagram for ../pictures/NAME.svg, and PNG screenshots under their own names."),
        "release_config": attr.label(allow_single_file = True, mandatory = True, doc = "release/config.toml: the registry the guide names for the images."),
        "_tool": attr.label(default = "//tools/docs", executable = True, cfg = "exec"),
    },
)

def _go_srcs_impl(ctx):
    srcs = []
    for t in ctx.attr.targets:
        srcs += [f for f in t[GoArchive].data.srcs if f.extension == "go"]
    return [DefaultInfo(files = depset(srcs))]

go_srcs = rule(
    implementation = _go_srcs_impl,
    doc = "The Go source files of Go libraries and binaries (not their tests), as rules_go knows them: what the guide's console lines are read from.",
    attrs = {
        "targets": attr.label_list(mandatory = True, providers = [GoArchive], doc = "go_library or go_binary targets."),
    },
)
