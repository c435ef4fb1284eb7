"""bty_build: the PEP 517 build backend of the bty-lab source distribution.

pip runs it (pyproject.toml names it, in this directory) to turn the sdist
into a wheel on a platform bty publishes no wheel for. It needs no Python
package and no network: it builds the programs bty_build.json names with
the go command from the vendored sources (GOFLAGS=-mod=vendor, GOPROXY=off),
static (CGO_ENABLED=0), and packs them as the wheel's scripts, with the
sdist's PKG-INFO as the wheel's METADATA. Set GO to the go command to use
when it is not on PATH.
"""

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sysconfig
import tempfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))


def _config():
    with open(os.path.join(_HERE, "bty_build.json")) as f:
        return json.load(f)


def _dist(cfg):
    return cfg["name"].replace("-", "_").lower() + "-" + cfg["version"]


def _tag():
    # This machine's platform, as installers match it: linux-x86_64 ->
    # linux_x86_64.
    return "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")


def get_requires_for_build_wheel(config_settings=None):
    return []


def _go(cfg):
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        raise SystemExit(
            "bty_build: building bty-lab from source needs Go %s or newer: "
            "install it (e.g. apt-get install golang-go) or set GO to the go command" % cfg["go"]
        )
    return go


def _build(cfg, out):
    go = _go(cfg)
    env = dict(os.environ)
    env.update({
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=vendor",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
    })
    env.setdefault("GOCACHE", os.path.join(tempfile.gettempdir(), "bty-build-gocache"))
    for name, pkg in sorted(cfg["scripts"].items()):
        cmd = [go, "build", "-trimpath", "-buildvcs=false", "-o", os.path.join(out, name), pkg]
        print("bty_build: " + " ".join(cmd[1:]), flush=True)
        r = subprocess.run(cmd, cwd=_HERE, env=env)
        if r.returncode != 0:
            raise SystemExit("bty_build: go build %s failed (exit %d); bty-lab needs Go %s or newer" % (pkg, r.returncode, cfg["go"]))


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d\n" % (name, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cfg = _config()
    dist, tag = _dist(cfg), _tag()
    with open(os.path.join(_HERE, "PKG-INFO"), "rb") as f:
        metadata = f.read()
    pkg = cfg["name"].replace("-", "_").lower()
    with open(os.path.join(_HERE, pkg, "__init__.py"), "rb") as f:
        init = f.read()
    entries = [
        (pkg + "/__init__.py", 0o644, init),
        (dist + ".dist-info/METADATA", 0o644, metadata),
        (dist + ".dist-info/WHEEL", 0o644,
         ("Wheel-Version: 1.0\nGenerator: bty_build\nRoot-Is-Purelib: false\nTag: %s\n" % tag).encode()),
    ]
    with tempfile.TemporaryDirectory() as out:
        _build(cfg, out)
        for name in sorted(cfg["scripts"]):
            with open(os.path.join(out, name), "rb") as f:
                entries.append((dist + ".data/scripts/" + name, 0o755, f.read()))
    entries.sort()
    record = "".join(_record_line(n, d) for n, _, d in entries) + dist + ".dist-info/RECORD,,\n"
    entries.append((dist + ".dist-info/RECORD", 0o644, record.encode()))
    wheel = "%s-%s.whl" % (dist, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            # A regular file's type bits too: installers set the
            # executable bit only on what is a regular file with it.
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return wheel
