"""squashfs: a read-only image built by //tools/squashfs."""

def _squashfs_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add("-out", out)
    inputs = []
    for target, dest in ctx.attr.files.items():
        files = target.files.to_list()
        if len(files) != 1:
            fail("%s must be one file, is %d" % (target.label, len(files)))
        args.add("-file", dest + "=" + files[0].path)
        inputs.append(files[0])
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "Squashfs",
        progress_message = "Building squashfs %{output}",
        env = {"SOURCE_DATE_EPOCH": "0"},
    )
    return [DefaultInfo(files = depset([out]))]

squashfs = rule(
    implementation = _squashfs_impl,
    doc = "A reproducible squashfs (gzip) holding the given files.",
    attrs = {
        "files": attr.label_keyed_string_dict(allow_files = True, doc = "Each file and its path in the image."),
        "out": attr.string(mandatory = True, doc = "Output file name."),
        "_tool": attr.label(default = "//tools/squashfs", executable = True, cfg = "exec"),
    },
)
