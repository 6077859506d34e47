"""Instructions counted inside chosen functions only (``python -m simulator.bench_instructions
--part``): which part of the gateway an IAQ's instructions go to.

Under ``valgrind --tool=callgrind --collect-atstart=no`` callgrind counts only while collection
is on. The gateway turns it on as it enters one of the parts and off as it leaves the last,
through callgrind's client request ``CALLGRIND_TOGGLE_COLLECT``: a macro of ``callgrind.h``
(valgrind's own package has it), compiled into a one-function library by gcc for the run, and
called through ctypes. The gateway imports this module from a ``sitecustomize`` written for
the run, before any of its own modules, so a part imported by name elsewhere is wrapped too,
but for one its own package takes by name while the part's module is first imported (the
index searches in ``responders/lesc/indices/__init__.py``'s ``SEARCHES``): the package has
its reference before the wrapper exists, so count such a part through what calls it.

A part is ``module:qualified.name`` (``gateway.switch:Switch._store``). Each call of a part
also counts some of the counting itself: about 2,000 instructions on CPython 3.11.
"""

import ctypes
import functools
import importlib
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The gateway's environment: the parts, comma-separated, and the compiled library.
PARTS_ENV = "IAQGW_COUNT_PARTS"
LIBRARY_ENV = "IAQGW_COUNT_LIBRARY"
_SOURCE = ("#include <valgrind/callgrind.h>\n"
           "void toggle_collect(void) { CALLGRIND_TOGGLE_COLLECT; }\n")
_SITECUSTOMIZE = ("from simulator.count_parts import install_from_environment\n"
                  "install_from_environment()\n")


def prepare(directory: Path, parts: Sequence[str]) -> dict[str, str]:
    """Compile the library and write the ``sitecustomize`` into ``directory``; the environment
    a process run under callgrind then needs to count ``parts`` only."""
    source = directory / "toggle.c"
    source.write_text(_SOURCE)
    library = directory / "libtoggle.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                   check=True, capture_output=True)
    (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH")) if p)
    return {PARTS_ENV: ",".join(parts), LIBRARY_ENV: str(library), "PYTHONPATH": path}


def install_from_environment() -> None:
    """Wrap the parts the environment names (see :func:`prepare`); nothing when it names none."""
    parts, library = os.environ.get(PARTS_ENV), os.environ.get(LIBRARY_ENV)
    if parts and library:
        install(parts.split(","), ctypes.CDLL(library).toggle_collect)


def install(parts: Sequence[str], toggle: Callable[[], Any]) -> None:
    """Make each part call ``toggle`` on its way in and out, once for calls of parts nested in
    one another (parts run on one thread: the gateway's event loop)."""
    depth = 0

    def counted(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            if depth == 0:
                toggle()
            depth += 1
            try:
                return function(*args, **kwargs)
            finally:
                depth -= 1
                if depth == 0:
                    toggle()
        return wrapper

    for part in parts:
        module, _, qualified = part.partition(":")
        owner: Any = importlib.import_module(module)
        *path, name = qualified.split(".")
        for attribute in path:
            owner = getattr(owner, attribute)
        setattr(owner, name, counted(getattr(owner, name)))
