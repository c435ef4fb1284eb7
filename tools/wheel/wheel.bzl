"""py_wheel_binaries: a wheel carrying static binaries as scripts."""

load("@bty_version//:version.bzl", "VERSION")

def _wheel_impl(ctx):
    name = "%s-%s-py3-none-%s.whl" % (ctx.attr.distribution.replace("-", "_"), VERSION, ctx.attr.platform)
    out = ctx.actions.declare_file(name)
    args = ctx.actions.args()
    args.add("-out", out)
    args.add("-name", ctx.attr.distribution)
    args.add("-version", VERSION)
    args.add("-platform", ctx.attr.platform)
    args.add("-readme", ctx.file.readme)
    args.add("-summary", ctx.attr.summary)
    args.add("-license", ctx.attr.license)
    args.add("-project-urls", ",".join(["%s=%s" % (k, v) for k, v in sorted(ctx.attr.project_urls.items())]))
    inputs = [ctx.file.readme]
    for target, script in ctx.attr.scripts.items():
        f = target[DefaultInfo].files_to_run.executable or target.files.to_list()[0]
        args.add("-script", "%s=%s" % (script, f.path))
        inputs.append(f)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "Wheel",
        progress_message = "Building wheel %{output}",
        env = {"SOURCE_DATE_EPOCH": "315532800"},
    )
    return [DefaultInfo(files = depset([out]))]

py_wheel_binaries = rule(
    implementation = _wheel_impl,
    doc = "A reproducible wheel whose scripts are the given static binaries; version from VERSION.",
    attrs = {
        "distribution": attr.string(mandatory = True, doc = "Distribution name, e.g. bty-lab."),
        "license": attr.string(mandatory = True, doc = "License field of METADATA."),
        "platform": attr.string(mandatory = True, doc = "Compressed platform tag set, e.g. manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64."),
        "project_urls": attr.string_dict(doc = "Project-URL entries: label -> URL."),
        "readme": attr.label(mandatory = True, allow_single_file = True, doc = "Markdown long description."),
        "scripts": attr.label_keyed_string_dict(mandatory = True, doc = "Binary -> name on PATH."),
        "summary": attr.string(mandatory = True, doc = "One-line summary."),
        "_tool": attr.label(default = "//tools/wheel", executable = True, cfg = "exec"),
    },
)
