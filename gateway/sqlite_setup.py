"""SQLite's process-wide configuration for the gateway's process, set before it opens anything.

Two of SQLite's defaults take a mutex on nearly every call the journal makes, for nothing
this process needs (docs/benchmarks.md, round 25):

- it counts every allocation (``SQLITE_CONFIG_MEMSTATUS``) under a mutex of its own: each
  bound text, each row and page buffer. Nothing here reads the counts
  (``sqlite3_memory_used``, a soft heap limit).
- it serializes every call on a connection or statement (``SQLITE_CONFIG_SERIALIZED``) in
  case two threads use one connection at once. No connection of the gateway's is used so:
  the journal, the index and the services' stores are used from the event loop thread only,
  the WAL checkpointer opens its own (gateway/checkpoint.py), and the metrics server reads
  the gateway's state through a snapshot taken on the loop (gateway/metrics.py). Multi-thread
  mode (``SQLITE_CONFIG_MULTITHREAD``) keeps SQLite's own shared structures locked.

The sqlite3 module exposes no ``sqlite3_config``, and its import has initialized SQLite
already: the library is shut down, configured and initialized again through ctypes, which
SQLite allows only while no connection is open. So it is done once, first thing, by the
``iaqgw`` console entry point (gateway/cli.py ``main``), never by code that may run beside
open connections (tests call the command line's ``app`` in their own process).
"""

import _sqlite3
import ctypes
import os

# sqlite3.h
_SQLITE_OK = 0
_SQLITE_CONFIG_MULTITHREAD = 2
_SQLITE_CONFIG_MEMSTATUS = 9
# Set (to anything) in the environment, SQLite keeps its defaults: to measure the change.
KEEP_DEFAULTS = "IAQGW_SQLITE_DEFAULTS"


def configure_sqlite() -> bool:
    """Turn SQLite's allocation counting and per-connection mutexes off for this process;
    True when both took effect.

    Call before any connection is opened. Where the library cannot be reached or refuses
    (another build of the module, a library already in use), SQLite keeps its defaults:
    the gateway works the same, a little slower.
    """
    if os.environ.get(KEEP_DEFAULTS):
        return False
    try:
        # The library the sqlite3 module is linked to (or built into it): its symbols are
        # found through the module's own handle.
        library = ctypes.PyDLL(_sqlite3.__file__)
        shutdown, config, initialize = (
            library.sqlite3_shutdown, library.sqlite3_config, library.sqlite3_initialize)
    except (OSError, AttributeError):
        return False
    if shutdown() != _SQLITE_OK:
        return False
    configured = (config(_SQLITE_CONFIG_MULTITHREAD) == _SQLITE_OK
                  and config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == _SQLITE_OK)
    initialized: bool = initialize() == _SQLITE_OK
    return initialized and configured
