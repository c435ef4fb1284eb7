"""initrd: the live environment's initramfs, built by //tools/initrd."""

def _initrd_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add("-out", out)
    args.add("-init", ctx.file.init)
    inputs = [ctx.file.init]
    if ctx.attr.modules:
        # The module tree's root is the directory holding "kernel/".
        roots = {}
        for f in ctx.files.kernel_modules:
            i = f.path.find("/kernel/")
            if i >= 0:
                roots[f.path[:i]] = True
        if len(roots) != 1:
            fail("kernel_modules must be one kernel's module tree, found roots %s" % roots.keys())
        args.add("-modules-dir", roots.keys()[0])
        args.add("-builtin", ctx.file.builtin)
        args.add_all(ctx.attr.modules, before_each = "-module")
        inputs += ctx.files.kernel_modules + [ctx.file.builtin]
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "Initrd",
        progress_message = "Building initrd %{output}",
        env = {"SOURCE_DATE_EPOCH": "0"},
    )
    return [DefaultInfo(files = depset([out]))]

initrd = rule(
    implementation = _initrd_impl,
    doc = "A gzip-compressed newc initramfs: init as /init plus the named kernel modules and their dependencies, reproducibly.",
    attrs = {
        "builtin": attr.label(allow_single_file = True, doc = "The kernel's modules.builtin (names compiled into the kernel are skipped)."),
        "init": attr.label(mandatory = True, allow_single_file = True, doc = "The /init executable (static)."),
        "kernel_modules": attr.label(allow_files = True, doc = "The kernel's whole module tree (…/lib/modules/VERSION/kernel/**)."),
        "modules": attr.string_list(doc = "Module names to include; their dependencies come along."),
        "out": attr.string(mandatory = True, doc = "Output file name."),
        "_tool": attr.label(default = "//tools/initrd", executable = True, cfg = "exec"),
    },
)
