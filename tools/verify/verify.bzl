"""verify: run tests as build actions and write the release verification report."""

def _verify_impl(ctx):
    results = []
    for t in ctx.attr.tests:
        info = t[DefaultInfo].files_to_run
        name = str(t.label).replace("@@//", "").replace("//", "").replace(":", "__").replace("/", "_")
        out = ctx.actions.declare_file("%s.verify/%s.json" % (ctx.label.name, name))
        args = ctx.actions.args()
        args.add("-label", str(t.label))
        args.add("-test", info.executable)
        args.add("-package", t.label.package)
        args.add("-out", out)
        if RunEnvironmentInfo in t:
            for k, v in sorted(t[RunEnvironmentInfo].environment.items()):
                args.add("-env", "%s=%s" % (k, v))
        ctx.actions.run(
            executable = ctx.executable._tool,
            arguments = [args],
            tools = [info],
            outputs = [out],
            mnemonic = "VerifyTest",
            progress_message = "Verifying %s" % t.label,
            # Like `bazel test` here: as root, with the machine's devices
            # (loop devices, taps, QEMU); never on a remote executor.
            execution_requirements = {"no-remote-exec": "1"},
        )
        results.append(out)
    report = ctx.actions.declare_file(ctx.label.name + ".json")
    files = [f for f in ctx.files.artifacts if not f.is_directory]
    args = ctx.actions.args()
    args.add("-report")
    args.add("-out", report)
    args.add_all(results, before_each = "-result")
    args.add_all(files, before_each = "-artifact")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = results + files,
        outputs = [report],
        mnemonic = "VerifyReport",
        progress_message = "Writing the verification report %{output}",
    )

    # The report is its own output group, so the publisher is handed its
    # path explicitly (//:verify_report), never finds it by name.
    return [
        DefaultInfo(files = depset([report] + files)),
        OutputGroupInfo(report = depset([report])),
    ]

verify = rule(
    implementation = _verify_impl,
    doc = "Runs each test as a build action (any failure fails the build) and writes a report pinning the sha256 of every artifact.",
    attrs = {
        "artifacts": attr.label_list(allow_files = True, doc = "Release artifacts whose digests the report pins."),
        "tests": attr.label_list(doc = "Test targets to run."),
        "_tool": attr.label(default = "//tools/verify", executable = True, cfg = "exec"),
    },
)
