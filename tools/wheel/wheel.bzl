"""py_wheel_binaries: a wheel carrying static binaries as scripts."""

load("@bty_version//:version.bzl", "VERSION")
load("@io_bazel_rules_go//go:def.bzl", "GoArchive")

def _metadata(ctx, args):
    # The core metadata, one set for the wheels and the sdist.
    args.add("-name", ctx.attr.distribution)
    args.add("-version", VERSION)
    args.add("-readme", ctx.file.readme)
    args.add("-summary", ctx.attr.summary)
    args.add("-license", ctx.attr.license)
    args.add("-project-urls", ",".join(["%s=%s" % (k, v) for k, v in sorted(ctx.attr.project_urls.items())]))

def _wheel_impl(ctx):
    name = "%s-%s-py3-none-%s.whl" % (ctx.attr.distribution.replace("-", "_"), VERSION, ctx.attr.platform)
    out = ctx.actions.declare_file(name)
    args = ctx.actions.args()
    args.add("-out", out)
    args.add("-platform", ctx.attr.platform)
    _metadata(ctx, args)
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

def _sdist_impl(ctx):
    name = "%s-%s.tar.gz" % (ctx.attr.distribution.replace("-", "_"), VERSION)
    out = ctx.actions.declare_file(name)

    # Every Go package the programs are linked from, with its files: the
    # sources (all of them, whatever the platform) and what they embed.
    pkgs = {}
    mains = {}
    for target, script in ctx.attr.scripts.items():
        archive = target[GoArchive]
        mains[script] = archive.data.importpath
        for d in [archive.data] + archive.transitive.to_list():
            key = (d.label.workspace_name, d.importpath)
            files = pkgs.setdefault(key, {})
            for f in list(d.srcs) + list(d._embedsrcs):
                files[f.path] = f
    manifest = []
    inputs = [ctx.file.readme, ctx.file.gomod, ctx.file.go_modules, ctx.file.backend]
    for (repo, importpath), files in sorted(pkgs.items()):
        manifest.append({
            "importpath": importpath,
            "repo": repo,
            "files": [{"path": f.path, "short": f.short_path} for f in files.values()],
        })
        inputs.extend(files.values())
    manifest_file = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    ctx.actions.write(manifest_file, json.encode(manifest))

    args = ctx.actions.args()
    args.add("-sdist")
    args.add("-out", out)
    _metadata(ctx, args)
    args.add("-gomod", ctx.file.gomod)
    args.add("-go-modules", ctx.file.go_modules)
    args.add("-backend", ctx.file.backend)
    args.add("-manifest", manifest_file)
    for script, importpath in sorted(mains.items()):
        args.add("-script", "%s=%s" % (script, importpath))
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs + [manifest_file],
        outputs = [out],
        mnemonic = "Sdist",
        progress_message = "Building sdist %{output}",
        env = {"SOURCE_DATE_EPOCH": "315532800"},
    )
    return [DefaultInfo(files = depset([out]))]

py_sdist_go = rule(
    implementation = _sdist_impl,
    doc = "A reproducible sdist that builds the given Go programs with the go command (tools/wheel/sdist.go); version from VERSION.",
    attrs = {
        "backend": attr.label(default = "//tools/wheel:bty_build.py", allow_single_file = True),
        "distribution": attr.string(mandatory = True, doc = "Distribution name, e.g. bty-lab."),
        "go_modules": attr.label(default = "//tools/wheel:go-modules.txt", allow_single_file = True, doc = "Each module's go version (tools/wheel/go-modules.sh)."),
        "gomod": attr.label(default = "//:go.mod", allow_single_file = True),
        "license": attr.string(mandatory = True, doc = "License field of PKG-INFO."),
        "project_urls": attr.string_dict(doc = "Project-URL entries: label -> URL."),
        "readme": attr.label(mandatory = True, allow_single_file = True, doc = "Markdown long description."),
        "scripts": attr.label_keyed_string_dict(mandatory = True, providers = [GoArchive], doc = "Go binary -> name on PATH; the same name may come from several platforms' binaries, whose packages are all carried."),
        "summary": attr.string(mandatory = True, doc = "One-line summary."),
        "_tool": attr.label(default = "//tools/wheel", executable = True, cfg = "exec"),
    },
)
