"""oci_index: a multi-platform OCI image index built by //tools/oci."""

load("@bty_version//:version.bzl", "VERSION")

def _oci_index_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + ".layout")
    tar = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ctx.actions.args()
    args.add("-layout", layout.path)
    args.add("-tar", tar)
    args.add("-path", ctx.attr.path)
    inputs = []
    for target, platform in ctx.attr.binaries.items():
        f = target[DefaultInfo].files_to_run.executable or target.files.to_list()[0]
        args.add("-binary", "%s=%s" % (platform, f.path))
        inputs.append(f)
    for target, dest in ctx.attr.files.items():
        for f in target.files.to_list():
            args.add("-file", "%s=%s" % (dest.replace("{basename}", f.basename), f.path))
            inputs.append(f)
    if ctx.files.certs:
        crt = ctx.files.certs[0].path
        args.add("-certs", crt[:crt.find("/usr/share/ca-certificates/") + len("/usr/share/ca-certificates")])
        inputs += ctx.files.certs
    args.add_all(ctx.attr.ports, before_each = "-port")
    args.add_all(ctx.attr.entrypoint_args, before_each = "-arg")

    # The revision comes from the workspace status (STABLE_GIT_COMMIT, see
    # tools/workspace_status.sh); the tool reads it from the status file.
    args.add("-status", ctx.info_file)
    inputs.append(ctx.info_file)
    labels = {
        "org.opencontainers.image.created": "1980-01-01T00:00:00Z",
        "org.opencontainers.image.source": ctx.attr.source,
        "org.opencontainers.image.title": ctx.attr.title,
        "org.opencontainers.image.version": VERSION,
    }
    for k in sorted(labels):
        args.add("-label", "%s=%s" % (k, labels[k]))
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs,
        outputs = [layout, tar],
        mnemonic = "OCIIndex",
        progress_message = "Building OCI index %{label}",
        env = {"SOURCE_DATE_EPOCH": "315532800"},
    )
    return [DefaultInfo(files = depset([layout, tar]))]

oci_index = rule(
    implementation = _oci_index_impl,
    doc = "An OCI image index (one scratch image per platform) as a layout directory and a tarball; reproducible.",
    attrs = {
        "binaries": attr.label_keyed_string_dict(mandatory = True, doc = "Static binary -> platform (os/arch)."),
        "certs": attr.label(allow_files = True, doc = "Debian's ca-certificates files (…/usr/share/ca-certificates/**)."),
        "entrypoint_args": attr.string_list(doc = "Arguments after the binary in the entrypoint."),
        "files": attr.label_keyed_string_dict(allow_files = True, doc = "Extra files -> path in the image ({basename} is replaced)."),
        "path": attr.string(mandatory = True, doc = "Path of the binary in the image."),
        "ports": attr.string_list(doc = "Exposed ports, e.g. 8080/tcp."),
        "source": attr.string(mandatory = True, doc = "Source repository URL label."),
        "title": attr.string(mandatory = True, doc = "Image title label."),
        "_tool": attr.label(default = "//tools/oci", executable = True, cfg = "exec"),
    },
)
