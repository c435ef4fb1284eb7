"""ui_pictures: the user guide's pictures of bty-web's web UI, made by //tools/uishots in headless Chromium."""

# The pictures //tools/uishots writes, one per page (its doc comment says
# which page each shows).
UI_PICTURES = [
    "ui-login.png",
    "ui-machines.png",
    "ui-machine.png",
    "ui-confirm.png",
    "ui-images.png",
    "ui-setup.png",
    "ui-machines-phone.png",
]

def _ui_pictures_impl(ctx):
    outs = [ctx.actions.declare_file(ctx.attr.name + "/" + n) for n in UI_PICTURES]
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = ["-out", outs[0].dirname],
        outputs = outs,
        mnemonic = "UIPictures",
        progress_message = "Taking the web UI's pictures in Chromium for %{label}",
        # Chromium comes from the host (the build chroot's Debian package),
        # not from Bazel: a remote executor without it cannot run this.
        execution_requirements = {"no-remote-exec": "1"},
    )
    return [DefaultInfo(files = depset(outs))]

ui_pictures = rule(
    implementation = _ui_pictures_impl,
    doc = "PNG pictures of each page of bty-web's web UI (" + ", ".join(UI_PICTURES) + "), the same bytes from the same inputs: a fixed lab, clock and window size, software rendering.",
    attrs = {
        "_tool": attr.label(default = "//tools/uishots", executable = True, cfg = "exec"),
    },
)
