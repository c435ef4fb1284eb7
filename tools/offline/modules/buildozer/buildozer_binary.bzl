"""Offline buildozer for `bazel mod tidy`.

Bazel runs @buildozer_binary//:buildozer.exe, which the real buildozer module
downloads from GitHub. Offline it is built from the Go module that the
workspace's go.mod pins (github.com/bazelbuild/buildtools, a `tool` there),
with the Go toolchain and module cache tools/bazel provides.
"""

def _buildozer_binary_repo_impl(rctx):
    go_mod = rctx.path(Label("@@//:go.mod"))
    go = rctx.which("go")
    if not go:
        fail("buildozer: no `go` on PATH to build it with; run Bazel through tools/bazel")
    res = rctx.execute(
        [go, "build", "-mod=readonly", "-o", str(rctx.path("buildozer.exe")), "github.com/bazelbuild/buildtools/buildozer"],
        working_directory = str(go_mod.dirname),
        timeout = 600,
    )
    if res.return_code != 0:
        fail("buildozer: building github.com/bazelbuild/buildtools/buildozer failed:\n" + res.stderr)
    rctx.file("BUILD.bazel", 'exports_files(["buildozer.exe"])\n')

_buildozer_binary_repo = repository_rule(implementation = _buildozer_binary_repo_impl)

def _buildozer_binary_impl(_mctx):
    _buildozer_binary_repo(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _buildozer_binary_impl)
