"""clients/python/setup.py - what pyproject.toml cannot express: build hooks.

build_py: after copying the package, generates daq_client/_generated (the
gRPC stubs) into the build tree from the daq source tree's proto/, so a
wheel and every install made from it carry the stubs and nothing is
generated at run time.  sdist: copies proto/*.proto into the archive, so a
build from the sdist alone finds them (PKG-INFO marks an unpacked sdist).

Where the protos are looked for, first hit wins: $DAQ_PROTO_DIR; in an
unpacked sdist its own proto/; else ../../proto (clients/python inside the
daq tree; pip >= 21.3 builds a local directory in place, so the relative
path holds).
"""
import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import FileError

HERE = os.path.dirname(os.path.abspath(__file__))


def _protogen():
    # By path: importing daq_client would need grpc and numpy at build time.
    # No __pycache__ left in the source tree by the build.
    sys.dont_write_bytecode = True
    path = os.path.join(HERE, "daq_client", "_protogen.py")
    spec = importlib.util.spec_from_file_location("_daq_protogen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _proto_dir(gen):
    if os.path.isfile(os.path.join(HERE, "PKG-INFO")):
        candidates = [os.path.join(HERE, "proto")]
    else:
        candidates = [os.path.join(HERE, "..", "..", "proto")]
    env = os.environ.get("DAQ_PROTO_DIR")
    if env:
        candidates = [env]
    d = gen.find_proto_dir(candidates)
    if d is None:
        raise FileError("daq_client: %s not found in %s (build from the daq source tree "
                        "or an sdist of it, or set DAQ_PROTO_DIR)"
                        % (" and ".join(gen.PROTO_FILES),
                           ", ".join(os.path.normpath(c) for c in candidates)))
    return d


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        gen = _protogen()
        out = os.path.join(self.build_lib, "daq_client")
        if not self.dry_run:
            gen.generate(_proto_dir(gen), out)
        self.announce("generated %s" % os.path.join(out, gen.PACKAGE), level=2)


class SdistWithProtos(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        gen = _protogen()
        src = _proto_dir(gen)
        os.makedirs(os.path.join(base_dir, "proto"), exist_ok=True)
        for f in gen.PROTO_FILES:
            shutil.copyfile(os.path.join(src, f), os.path.join(base_dir, "proto", f))


# Build products go to a private temporary directory, not into the source
# tree: `sudo make install` would leave root-owned build/ and *.egg-info
# there for the next user's pip to trip on, and two builds at once (ctest
# -j) would share them.
_work = tempfile.mkdtemp(prefix="daq-client-build-")
atexit.register(shutil.rmtree, _work, ignore_errors=True)

setup(packages=["daq_client"],  # here, not in pyproject.toml: setuptools 66 calls that beta
      cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
      options={"build": {"build_base": os.path.join(_work, "build")},
               "egg_info": {"egg_base": _work}})
