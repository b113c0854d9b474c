#!/bin/sh
# `make`'s first step: a venv made by Python 3.11 or later, or one line saying why not.
#
# Usage: devstack/venv.sh VENV PYTHON
# PYTHON when it is 3.11 or later, else the newest python3.1x on PATH that is (said in one line).
# An existing venv is kept only if its python runs, is 3.11 or later and has pip: one made by an
# older Python, or cut off while being made, is made again instead of failing deep inside pip.
# What is installed in it is the Makefile's business (stamps written only after pip succeeds).
# Plain sh, no Python syntax: it must run, and explain, whatever the python found.
set -u
venv=$1
python=$2
need=3.11

recent() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null; }

if recent "$venv/bin/python" && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    exit 0
fi

pick=
for candidate in "$python" python3.14 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && recent "$candidate"; then
        pick=$candidate
        break
    fi
done
found=$(version "$python")
if [ -n "$found" ]; then found="$python is $found"; else found="$python not found"; fi
if [ -z "$pick" ]; then
    echo "uploads needs Python $need or later: $found; install python$need (or newer) and run" \
        "again, or set PYTHON=/path/to/python$need" >&2
    exit 1
fi
if [ "$pick" != "$python" ]; then
    echo "$found, uploads needs $need or later: using $pick ($(version "$pick"))"
fi

if [ -e "$venv" ]; then
    if [ ! -f "$venv/pyvenv.cfg" ]; then
        echo "$venv exists and is not a venv: move it away, or set VENV to another folder" >&2
        exit 1
    fi
    echo "$venv was made by an older Python or not finished: making it again"
    rm -rf "$venv"
fi
echo "making $venv with $pick ($(version "$pick"))"
"$pick" -m venv "$venv"
