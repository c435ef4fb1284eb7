"""iPXE's source tree, for the from-source build with our script embedded.

iPXE's source cannot be fetched on every machine this repository builds on
(Debian's archive has no source tarball for it, the Go module proxy does not
serve it), so it is not downloaded: set BTY_IPXE_SRC to an iPXE checkout
(upstream git, v2.0.0 or later) to build //ipxe:ipxe_embedded. Without it
that target fails with a message saying exactly this; nothing in
`bazel test //...` depends on it.
"""

_MISSING = """


genrule(
    name = "src",
    outs = ["missing"],
    cmd = "echo 'iPXE source not available: set BTY_IPXE_SRC to an iPXE source checkout (upstream git, v2.0.0 or later) and rebuild //ipxe:ipxe_embedded. Debian publishes no iPXE source tarball this build could pin, so it is never downloaded.' >&2; exit 1",
    visibility = ["//visibility:public"],
)
"""

_PRESENT = """
filegroup(
    name = "src",
    srcs = glob(["src/**"], exclude = ["src/bin*/**"]),
    visibility = ["//visibility:public"],
)
"""

def _ipxe_source_impl(rctx):
    src = rctx.os.environ.get("BTY_IPXE_SRC", "")
    if not src:
        rctx.file("BUILD.bazel", _MISSING)
        return
    if not rctx.path(src + "/src/Makefile").exists:
        fail("BTY_IPXE_SRC=%s is not an iPXE source tree (no src/Makefile)" % src)
    rctx.symlink(src + "/src", "src")
    rctx.file("BUILD.bazel", _PRESENT)

ipxe_source = repository_rule(
    implementation = _ipxe_source_impl,
    environ = ["BTY_IPXE_SRC"],
    local = True,
    doc = "iPXE's source from BTY_IPXE_SRC, or a target that explains how to provide it.",
)

def _impl(_mctx):
    ipxe_source(name = "ipxe_src")

ipxe = module_extension(implementation = _impl, doc = "The optional iPXE source tree (see ipxe/source.bzl).")
