"""Debian binary packages as Bazel repositories, pinned by sha256.

The mirror is the one this machine's apt already uses, or
BTY_DEBIAN_MIRROR when set, as tools/debian/mirror.sh finds it, so no host
is written into the repository. Each pin also names the snapshot archive
timestamp that has its exact file, tried second on a machine that names a
snapshot archive: sid's pool keeps only current versions, so a pin would
otherwise stop building once Debian moves on. tools/bazel run //tools/debian:update re-pins everything.
Downloads go through Bazel's repository cache, keyed by the sha256: once
fetched, a package is never fetched again.
"""

def _mirror(rctx, *args):
    # One implementation for Bazel and tools/bazel: tools/debian/mirror.sh.
    res = rctx.execute(["/bin/sh", str(rctx.path(Label("//tools/debian:mirror.sh")))] + list(args))
    if res.return_code != 0:
        fail(res.stderr.strip())
    return res.stdout.strip()

def _debian_deb_impl(rctx):
    # The machine's mirror first; then, when the machine names a snapshot
    # archive (apt sources or BTY_DEBIAN_SNAPSHOT), the pin's exact file
    # there, for when the mirror's sid pool has moved on.
    urls = [_mirror(rctx) + "/" + rctx.attr.filename]
    snapshot = _mirror(rctx, "snapshot")
    if snapshot:
        urls.append("%s/%s/%s" % (snapshot, rctx.attr.snapshot, rctx.attr.filename))
    rctx.report_progress("fetching " + rctx.attr.filename)
    rctx.download_and_extract(
        url = urls,
        sha256 = rctx.attr.sha256,
        type = "deb",
        output = "deb",
    )
    data = [f for f in rctx.path("deb").readdir() if f.basename.startswith("data.tar")]
    if len(data) != 1:
        fail("%s: expected one data.tar.* member in the .deb, found %s" % (rctx.attr.filename, data))
    rctx.extract(data[0])
    rctx.delete("deb")

    # What the release's SBOMs say of this input (tools/sbom): the package
    # as Debian names it, the .deb's digest and its license.
    base = rctx.attr.filename.split("/")[-1].removesuffix(".deb")
    package, version, arch = base.split("_")
    rctx.file("metadata.json", json.encode({
        "architecture": arch,
        "filename": rctx.attr.filename,
        "license": rctx.attr.license,
        "package": package,
        "sha256": rctx.attr.sha256,
        "version": version,
    }))
    rctx.file("BUILD.bazel", rctx.attr.build_file_content + '\nexports_files(["metadata.json"], visibility = ["//visibility:public"])\n')

debian_deb = repository_rule(
    implementation = _debian_deb_impl,
    doc = "Downloads one .deb from the machine's Debian mirror, checks its sha256 and unpacks its files.",
    attrs = {
        "build_file_content": attr.string(
            mandatory = True,
            doc = "BUILD file for the unpacked package (its files keep their paths, e.g. usr/lib/...).",
        ),
        "filename": attr.string(
            mandatory = True,
            doc = "Path below the mirror, as apt-cache show prints it (pool/main/...).",
        ),
        "sha256": attr.string(
            mandatory = True,
            doc = "sha256 of the .deb, as apt-cache show prints it.",
        ),
        "license": attr.string(
            mandatory = True,
            doc = "The package's license as an SPDX expression, from its debian/copyright; the SBOMs carry it.",
        ),
        "snapshot": attr.string(
            mandatory = True,
            doc = "Timestamp (YYYYMMDDTHHMMSSZ) at which the snapshot archive has this exact file; written by //tools/debian:update.",
        ),
    },
    environ = ["BTY_DEBIAN_MIRROR", "BTY_DEBIAN_SNAPSHOT"],
)

_deb = tag_class(attrs = {
    "build_file_content": attr.string(mandatory = True, doc = "BUILD file for the unpacked package."),
    "filename": attr.string(mandatory = True, doc = "Path below the mirror (pool/main/...)."),
    "name": attr.string(mandatory = True, doc = "Repository name."),
    "sha256": attr.string(mandatory = True, doc = "sha256 of the .deb."),
    "license": attr.string(mandatory = True, doc = "SPDX license expression (from the package's debian/copyright)."),
    "snapshot": attr.string(mandatory = True, doc = "Snapshot archive timestamp that has the file (//tools/debian:update writes it)."),
})

def _debian_impl(mctx):
    for mod in mctx.modules:
        for deb in mod.tags.deb:
            debian_deb(
                name = deb.name,
                build_file_content = deb.build_file_content,
                filename = deb.filename,
                sha256 = deb.sha256,
                license = deb.license,
                snapshot = deb.snapshot,
            )

debian = module_extension(
    implementation = _debian_impl,
    doc = "Pinned Debian packages: debian.deb(name, filename, sha256, snapshot, build_file_content).",
    tag_classes = {"deb": _deb},
)

def _bty_version_impl(rctx):
    version = rctx.read(rctx.attr.version_file).strip()
    rctx.file("BUILD.bazel", "")
    rctx.file("version.bzl", '"""The release version, from the repository\'s VERSION file."""\n\nVERSION = "%s"\n' % version)

_bty_version_repo = repository_rule(
    implementation = _bty_version_impl,
    attrs = {"version_file": attr.label(mandatory = True, allow_single_file = True)},
)

def _version_impl(mctx):
    _bty_version_repo(name = "bty_version", version_file = Label("//:VERSION"))

version = module_extension(
    implementation = _version_impl,
    doc = "Exposes VERSION as @bty_version//:version.bzl, so artifact names can carry it.",
)
