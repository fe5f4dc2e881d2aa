# Shared set-up for ./demo and ./run-tests (sourced, not run): after it,
#   - the current directory is the repository root,
#   - .venv exists and has tinymeta installed in editable mode with its dev extras,
#   - $PY is the virtual environment's python,
#   - the Graphviz `dot` program is installed if we could install it (root + apt-get);
#     otherwise a message says how, and tests that need it skip.
# Each step is skipped when it is already done, so a second run starts at once.

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '%s\n' "$*" >&2; }

# -- a virtual environment with tinymeta in it -----------------------------------------
PYTHON3="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON3" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        say "tinymeta needs Python 3.10 or newer; '$PYTHON3' is $("$PYTHON3" --version 2>&1)."
        say "Install a newer Python, or point PYTHON at one: PYTHON=python3.11 $0"
        exit 1
    fi
    say "creating the virtual environment .venv ..."
    if ! "$PYTHON3" -m venv .venv; then
        say "could not create .venv; on Debian/Ubuntu: apt-get install python3-venv"
        exit 1
    fi
fi
PY="$PWD/.venv/bin/python"

# Reinstall when pyproject.toml changed since the last install, or when this .venv's
# tinymeta is missing or points at another checkout.
stamp=.venv/.tinymeta-installed
installed_here() {
    "$PY" -I -c 'import importlib.util, os, sys
spec = importlib.util.find_spec("tinymeta")
sys.exit(spec is None or os.path.dirname(spec.origin) != os.path.join(sys.argv[1], "tinymeta"))' \
        "$PWD" 2>/dev/null
}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! installed_here; then
    # pip's own output stays visible (what it downloads, with progress bars on a terminal):
    # about a minute of silence otherwise looks like a hang. On stderr, like our messages.
    say "installing tinymeta and its dev dependencies into .venv (pip install -e '.[dev]');"
    say "the first time, pip downloads numpy, matplotlib, pytest and a few more: about a minute ..."
    if ! "$PY" -m pip install --disable-pip-version-check -e '.[dev]' >&2; then
        say "pip could not install tinymeta into .venv (see its messages above)."
        exit 1
    fi
    touch "$stamp"
    say "done: .venv is ready (later runs skip this step)."
fi

# -- Graphviz `dot` (renders graphs; the DOT text itself needs no binary) ------------------
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Graphviz (the dot program) with apt-get (usually under a minute) ..."
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; } >/dev/null; then
            say "apt-get could not install graphviz; continuing without dot (rendering tests skip)."
        fi
    else
        say "note: the Graphviz 'dot' program is not installed, so graph rendering to SVG/PNG"
        say "      is unavailable and the tests that need it skip. To install it:"
        say "        Debian/Ubuntu: sudo apt-get install graphviz"
        say "        Fedora:        sudo dnf install graphviz"
        say "        macOS:         brew install graphviz"
    fi
fi
